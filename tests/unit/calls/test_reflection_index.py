"""The reflection index (fabric/edge/reflection.py): public files only, with comments."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2 as rpb

from fabric.edge.reflection import ReflectionIndex, file_proto, public_api_files

SERVICES = ["fabric.api.v1.Calls", "fabric.api.v1.Records", "grpc.health.v1.Health"]


def _index() -> ReflectionIndex:
    files = [*public_api_files(), file_proto(health_pb2.DESCRIPTOR.serialized_pb)]
    return ReflectionIndex(files, SERVICES)


def test_lists_the_given_services_and_describes_one_method_with_its_comment() -> None:
    index = _index()
    listed = index.answer(rpb.ServerReflectionRequest(list_services=""))
    assert [s.name for s in listed.list_services_response.service] == sorted(SERVICES)
    dial = rpb.ServerReflectionRequest(file_containing_symbol="fabric.api.v1.Calls.Dial")
    reply = index.answer(dial)
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in reply.file_descriptor_response.file_descriptor_proto]
    assert [f.name for f in files] == [
        "fabric/api/v1/calls.proto", "fabric/api/v1/messaging.proto", "fabric/api/v1/common.proto"
    ]  # calls.proto and its imports (CallEvent.message is a messaging.TextMessage)
    comments = " ".join(loc.leading_comments for loc in files[0].source_code_info.location)
    assert "Place a call" in comments


def test_internal_messages_are_not_served() -> None:
    index = _index()
    assert not any(name.startswith(("actors.", "fabric.wire.")) for name in index.by_symbol)
    for symbol in ("actors.messages.v1.CallOp", "fabric.wire.v1.Envelope"):
        reply = index.answer(rpb.ServerReflectionRequest(file_containing_symbol=symbol))
        assert reply.WhichOneof("message_response") == "error_response"
    missing = index.answer(rpb.ServerReflectionRequest(
        file_by_filename="actors/messages/v1/tenant.proto"))
    assert missing.WhichOneof("message_response") == "error_response"

"""The API as a third-party client meets it: only stubs generated from protos/ and the
standard gRPC packages (reflection, health), never our SDK.

Reflection lists only the public services (and health), in v1 and v1alpha, and describes a
single method with its .proto comment.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from calls_e2e_harness import E2EFabric
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as rpb
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.cassandra, pytest.mark.ray]

PUBLIC = {
    "fabric.api.v1.Calls",
    "fabric.api.v1.CarrierAdmin",
    "fabric.api.v1.Records",
    "fabric.api.v1.TenantAdmin",
    "grpc.health.v1.Health",
}


def _channel(e2e: E2EFabric) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(e2e.ca_file.read_bytes())
    return grpc.aio.secure_channel(e2e.target, creds)


def _describe_sync(
    e2e: E2EFabric, symbol: str
) -> tuple[list[str], descriptor_pb2.FileDescriptorProto]:
    """Through grpcio-reflection's own client (v1alpha): the services and ``symbol``'s file."""
    creds = grpc.ssl_channel_credentials(e2e.ca_file.read_bytes())
    with grpc.secure_channel(e2e.target, creds) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        return list(db.get_services()), db.FindFileContainingSymbol(symbol)


def _comment(file: descriptor_pb2.FileDescriptorProto, path: list[int]) -> str:
    for location in file.source_code_info.location:
        if list(location.path) == path:
            return str(location.leading_comments)
    return ""


async def test_reflection_lists_only_public_services_and_describes_a_method(
    e2e: E2EFabric,
) -> None:
    services, file = await asyncio.to_thread(_describe_sync, e2e, "fabric.api.v1.Calls.Register")
    assert set(services) == PUBLIC
    assert file.name == "fabric/api/v1/calls.proto"
    service = next(i for i, s in enumerate(file.service) if s.name == "Calls")
    method = next(i for i, m in enumerate(file.service[service].method) if m.name == "Register")
    # FileDescriptorProto.service = 6, ServiceDescriptorProto.method = 2
    assert "registers one extension" in _comment(file, [6, service, 2, method])

    # v1 too (same messages on the wire): list, then an internal symbol is not found
    async with _channel(e2e) as channel:
        info: Any = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=rpb.ServerReflectionRequest.SerializeToString,
            response_deserializer=rpb.ServerReflectionResponse.FromString,
        )
        call = info()
        await call.write(rpb.ServerReflectionRequest(list_services=""))
        listed = await call.read()
        await call.write(rpb.ServerReflectionRequest(
            file_containing_symbol="actors.messages.v1.CallState"))
        internal = await call.read()
        await call.done_writing()
        assert {s.name for s in listed.list_services_response.service} == PUBLIC
        assert internal.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]

        health = health_pb2_grpc.HealthStub(channel)
        statuses = await health.List(health_pb2.HealthListRequest(), timeout=10)
        assert statuses.statuses[""].status == health_pb2.HealthCheckResponse.SERVING

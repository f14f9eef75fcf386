"""The API as a third-party client meets it: only stubs generated from protos/ and the
standard gRPC packages (reflection, health), never our SDK.

Reflection lists only the public services (and health), in v1 and v1alpha, and describes a
single method with its .proto comment. Errors carry google.rpc.Status details (read with
grpcio-status); the defaults (no CDR range, no role) work.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from calls_e2e_harness import E2EFabric
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as rpb
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status.rpc_status import aio as rpc_status_aio

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import calls_pb2_grpc as api_calls_grpc
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import carrier_pb2_grpc as api_carrier_grpc
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import records_pb2_grpc as api_records_grpc
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import tenant_pb2_grpc as api_tenant_grpc

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


# ---- a tenant through raw stubs -----------------------------------------------------------


class Raw:
    """Stubs of the four public services over one channel, with a bearer token per call."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.carrier = api_carrier_grpc.CarrierAdminStub(channel)
        self.admin = api_tenant_grpc.TenantAdminStub(channel)
        self.calls = api_calls_grpc.CallsStub(channel)
        self.records = api_records_grpc.RecordsStub(channel)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """The ``authorization`` metadata the API requires."""
    return (("authorization", f"Bearer {token}"),)


async def rich_error(call: Any) -> tuple[grpc.StatusCode, Any]:
    """Await a call that must fail; its code and google.rpc.Status (grpcio-status)."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    status = await rpc_status_aio.from_call(call)
    assert status is not None, failed.value
    return failed.value.code(), status


def detail(status: Any, kind: type[Any]) -> Any:
    """The status detail of type ``kind`` (exactly one)."""
    found = []
    for item in status.details:
        message = kind()
        if item.Unpack(message):
            found.append(message)
    assert len(found) == 1, (kind, status)
    return found[0]


async def test_error_details_and_defaults(e2e: E2EFabric) -> None:
    async with _channel(e2e) as channel:
        raw = Raw(channel)
        op = bearer(e2e.operator_token)
        made = await raw.carrier.CreateTenant(
            api_carrier.CreateTenantRequest(name="Raw A", owner_name="Owner"), metadata=op)
        owner = bearer(made.owner_api_key)
        user = await raw.admin.CreateUser(api_tenant.CreateUserRequest(name="M"), metadata=owner)
        assert user.role == api_common.ROLE_MEMBER  # no role = member
        key = await raw.admin.CreateApiKey(
            api_tenant.CreateApiKeyRequest(user_id=user.user_id), metadata=owner)
        member = bearer(key.secret)
        await raw.admin.PutExtension(api_tenant.PutExtensionRequest(extension=api_tenant.Extension(
            extension="101", user_id=made.owner_user_id)), metadata=owner)
        other = await raw.carrier.CreateTenant(
            api_carrier.CreateTenantRequest(name="Raw B", owner_name="Owner"), metadata=op)

        # invalid argument: ErrorInfo (reason = error id, domain) and a field violation
        code, status = await rich_error(raw.calls.Dial(api_calls.DialRequest(
            from_extension="101", to=api_common.Destination(extension="102"),
            media=api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"short")),
            metadata=owner))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        info = detail(status, error_details_pb2.ErrorInfo)
        assert (info.reason, info.domain) == ("invalid-media-offer", "callfabric.api")
        assert detail(status, error_details_pb2.BadRequest).field_violations[0].field == "media.key"

        # a role problem names the roles required
        code, status = await rich_error(raw.calls.ListActiveCalls(
            api_calls.ListActiveCallsRequest(), metadata=member))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        info = detail(status, error_details_pb2.ErrorInfo)
        assert info.reason == "role-not-allowed"
        assert info.metadata["required_roles"] == "owner, admin"

        # another user's extension: PERMISSION_DENIED in the tenant, NOT_FOUND across tenants
        dial = api_calls.DialRequest(from_extension="101",
                                     to=api_common.Destination(extension="102"))
        code, status = await rich_error(raw.calls.Dial(dial, metadata=member))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert detail(status, error_details_pb2.ErrorInfo).reason == "extension-not-yours"
        code, status = await rich_error(raw.calls.Dial(dial, metadata=bearer(other.owner_api_key)))
        assert code == grpc.StatusCode.NOT_FOUND
        assert detail(status, error_details_pb2.ErrorInfo).reason == "extension-not-found"

        # defaults: no range = the last 30 days, for an owner and for a member
        for who in (owner, member):
            await raw.records.QueryCdrs(api_records.QueryCdrsRequest(), metadata=who)
        code, status = await rich_error(raw.records.QueryCdrs(
            api_records.QueryCdrsRequest(start_ms=5, end_ms=4), metadata=owner))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert detail(status, error_details_pb2.BadRequest).field_violations[0].field == "end_ms"

"""The API as a third-party client meets it: only stubs generated from protos/ and the
standard gRPC packages (reflection, health), never our SDK.

Reflection lists only the public services (and health), in v1 and v1alpha, and describes a
single method with its .proto comment. Errors carry google.rpc.Status details (read with
grpcio-status); the defaults (no CDR range, no role) work. A call with audio both ways,
with SRTP done here with pylibsrtp: the first frame arrives, and the CDR counts no loss.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import grpc
import pylibsrtp
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
from fabric.testing import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.cassandra, pytest.mark.ray]

PUBLIC = {
    "fabric.api.v1.Audit",
    "fabric.api.v1.Billing",
    "fabric.api.v1.Calls",
    "fabric.api.v1.CarrierAdmin",
    "fabric.api.v1.Compliance",
    "fabric.api.v1.Messaging",
    "fabric.api.v1.Operators",
    "fabric.api.v1.Privacy",
    "fabric.api.v1.Recordings",
    "fabric.api.v1.Records",
    "fabric.api.v1.TenantAdmin",
    "fabric.api.v1.Voicemail",
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


# ---- a call with audio, from the .proto alone ----------------------------------------------

SUITE = "AES_CM_128_HMAC_SHA1_80"  # key 16 + salt 14 bytes
FRAMES = 10


class Phone(asyncio.DatagramProtocol):
    """A raw SRTP phone: a bound UDP socket, its own key, the relay's answer key."""

    def __init__(self) -> None:
        self.key = os.urandom(30)
        self.transport: asyncio.DatagramTransport | None = None
        self.tx = pylibsrtp.Session(pylibsrtp.Policy(
            key=self.key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
        self.rx: pylibsrtp.Session | None = None
        self.relay: tuple[str, int] | None = None
        self.frames: dict[int, bytes] = {}  # by sequence number
        self.got = asyncio.Event()

    async def bind(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def offer(self) -> api_common.MediaOffer:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return api_common.MediaOffer(suite=SUITE, key=self.key, rtp_host=host, rtp_port=port)

    def answered(self, media: api_common.MediaAnswer) -> None:
        assert media.suite == SUITE and len(media.key) == 30
        self.rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=media.key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
        self.relay = (media.relay_host, media.relay_port)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.rx is None or 192 <= data[1] <= 223:
            return  # RTCP shares the port (RFC 5761); not needed here
        plain = self.rx.unprotect(data)
        (seq,) = struct.unpack_from("!H", plain, 2)
        self.frames[seq] = plain[12:]
        self.got.set()

    async def send(self, payloads: list[bytes], ssrc: int) -> None:
        assert self.transport is not None and self.relay is not None
        for seq, payload in enumerate(payloads):
            header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)  # PCMU, 20 ms
            self.transport.sendto(self.tx.protect(header + payload), self.relay)
            await asyncio.sleep(0.02)  # real-time pacing of 20 ms frames, not a wait

    async def wait_frames(self, count: int) -> None:
        async def all_in() -> bool:
            return len(self.frames) >= count

        await eventually(all_in, 10.0, 0.05, what=f"{count} frames")


async def next_event(stream: Any, kind: int) -> Any:
    """The next call event of type ``kind`` from a Register stream (pongs skipped)."""
    while True:
        reply = await asyncio.wait_for(stream.read(), 15)
        if reply.WhichOneof("msg") == "event" and reply.event.type == kind:
            return reply.event


async def test_a_call_with_audio_both_ways_first_frame_included(e2e: E2EFabric) -> None:
    async with _channel(e2e) as channel:
        raw = Raw(channel)
        made = await raw.carrier.CreateTenant(api_carrier.CreateTenantRequest(
            name="Raw Audio", owner_name="Owner"), metadata=bearer(e2e.operator_token))
        owner = bearer(made.owner_api_key)
        user = await raw.admin.CreateUser(api_tenant.CreateUserRequest(name="M"), metadata=owner)
        member = bearer((await raw.admin.CreateApiKey(
            api_tenant.CreateApiKeyRequest(user_id=user.user_id), metadata=owner)).secret)
        for ext, who in (("101", made.owner_user_id), ("102", user.user_id)):
            await raw.admin.PutExtension(api_tenant.PutExtensionRequest(
                extension=api_tenant.Extension(extension=ext, user_id=who)), metadata=owner)

        stream: Any = raw.calls.Register(metadata=member)
        await stream.write(api_calls.RegisterRequest(
            register=api_calls.Register(extension="102")))
        first = await asyncio.wait_for(stream.read(), 15)
        assert first.WhichOneof("msg") == "registered"

        caller, callee = Phone(), Phone()
        await caller.bind()
        await callee.bind()
        info = await raw.calls.Dial(api_calls.DialRequest(
            from_extension="101", to=api_common.Destination(extension="102"),
            media=caller.offer()), metadata=owner)
        caller.answered(info.media)  # the caller's answer is in Dial's reply
        incoming = await next_event(stream, api_calls.CALL_EVENT_INCOMING)
        assert incoming.call_id == info.call_id
        assert incoming.offered_suite == SUITE  # the caller offered media, with this suite
        answered = await raw.calls.Answer(api_calls.AnswerRequest(
            call_id=info.call_id, extension="102", media=callee.offer()), metadata=member)
        callee.answered(answered.media)  # the callee's is in Answer's reply

        # nobody sent anything before: both start at once, and frame 0 arrives both ways
        up = [bytes([i]) * 160 for i in range(FRAMES)]
        down = [bytes([0x80 + i]) * 160 for i in range(FRAMES)]
        await asyncio.gather(caller.send(up, 0xCA11), callee.send(down, 0xCA1E))
        await asyncio.gather(callee.wait_frames(FRAMES), caller.wait_frames(FRAMES))
        assert callee.frames == dict(enumerate(up))  # seq (and payload) preserved
        assert caller.frames == dict(enumerate(down))

        await raw.calls.Hangup(api_calls.CallRef(call_id=info.call_id), metadata=owner)
        await stream.done_writing()
        stream.cancel()
        for phone in (caller, callee):
            assert phone.transport is not None
            phone.transport.close()

        # the member reads the CDR of their own call (no range = last 30 days): nothing lost
        async def recorded() -> Any:
            reply = await raw.records.QueryCdrs(api_records.QueryCdrsRequest(), metadata=member)
            return next((r for r in reply.records if r.call_id == info.call_id), None)

        record = await eventually(recorded, 30.0, 0.2, what="the call's CDR")
        assert record.packets_received == 2 * FRAMES
        assert record.packets_sent == 2 * FRAMES
        assert record.packets_lost == 0

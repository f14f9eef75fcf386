"""Security end to end: the authorisation matrix over every RPC, and hostile/malformed
requests generated with hypothesis. Real gRPC with TLS, real Ray, real Cassandra."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from calls_e2e_harness import E2EFabric
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client import FabricClient, Softphone

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]

OK = grpc.StatusCode.OK
SERVICES = [
    s
    for m in (api_carrier, api_tenant, api_calls, api_records)
    for s in m.DESCRIPTOR.services_by_name.values()
]
UNARY = [
    (s, m) for s in SERVICES for m in s.methods if not m.client_streaming and not m.server_streaming
]
DETAILS_RE = re.compile(r"[a-z0-9][a-z0-9-]*: .+", re.S)


def path(service: d.ServiceDescriptor, method: d.MethodDescriptor) -> str:
    return f"/{service.full_name}/{method.name}"


async def invoke(
    channel: grpc.aio.Channel,
    service: d.ServiceDescriptor,
    method: d.MethodDescriptor,
    request: Message | bytes,
    token: str | None,
) -> tuple[grpc.StatusCode, str, Any]:
    out = message_factory.GetMessageClass(method.output_type)
    rpc = channel.unary_unary(
        path(service, method),
        request_serializer=lambda r: r if isinstance(r, bytes) else r.SerializeToString(),
        response_deserializer=out.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
    try:
        reply = await rpc(request, metadata=metadata, timeout=15)
        return OK, "", reply
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or "", None


@dataclass
class World:
    """Tenant A with objects, tenant B (a stranger), and keys of every kind."""

    channel: grpc.aio.Channel
    operator: str
    a_owner: str
    a_member: str
    b_owner: str
    a_tenant: str
    a_user: str
    a_key_id: str
    a_number: str
    a_call: str
    a_ended_call: str
    a_owner_client: FabricClient


_PHONES: list[Softphone] = []  # the world's registered phones, for the module's life


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(e2e: E2EFabric) -> World:
    op = e2e.client()
    a = await op.create_tenant("Tenant A")
    b = await op.create_tenant("Tenant B")
    owner = op.with_token(a.owner_api_key)
    u1 = await owner.create_user("Member One")
    u2 = await owner.create_user("Member Two")
    await owner.put_extension("101", u1.user_id)
    await owner.put_extension("102", u2.user_id)
    await owner.put_extension("103", u2.user_id)
    key1 = await owner.create_api_key(u1.user_id)
    await owner.put_ring_group("grp", ["101", "102"])
    [number] = await op.allocate_numbers(a.tenant.tenant_id, count=1)
    await owner.route_number(number, extension="101")
    _PHONES.append(await Softphone(owner, "102").register())  # only registered phones ring
    ringing = await owner.dial("101", extension="102")
    ended = await owner.dial("101", extension="102")
    await owner.hangup(ended.call_id)
    channel = grpc.aio.secure_channel(
        e2e.target, grpc.ssl_channel_credentials(e2e.ca_file.read_bytes())
    )
    return World(
        channel,
        e2e.operator_token,
        a.owner_api_key,
        key1.secret,
        b.owner_api_key,
        a.tenant.tenant_id,
        u1.user_id,
        key1.key.key_id,
        number,
        ringing.call_id,
        ended.call_id,
        owner,
    )


def requests_for(w: World, absent: bool = False) -> dict[str, Message]:
    """A request per method aimed at tenant A's objects (or at absent look-alikes)."""
    tenant = f"t-{uuid.uuid4().hex[:12]}" if absent else w.a_tenant
    user = "u-000000000000" if absent else w.a_user
    call = uuid.uuid4().hex if absent else w.a_call
    ended = uuid.uuid4().hex if absent else w.a_ended_call
    number = "+15550109998" if absent else w.a_number
    ext = "109" if absent else "101"
    key_id = "0" * 16 if absent else w.a_key_id
    return {
        "CreateTenant": api_carrier.CreateTenantRequest(name="Intruder"),
        "GetTenant": api_carrier.TenantRef(tenant_id=tenant),
        "SuspendTenant": api_carrier.TenantRef(tenant_id=tenant),
        "ResumeTenant": api_carrier.TenantRef(tenant_id=tenant),
        "CloseTenant": api_carrier.TenantRef(tenant_id=tenant),
        "SetPlan": api_carrier.SetPlanRequest(tenant_id=tenant, plan=api_carrier.PLAN_PRO),
        "AllocateNumbers": api_carrier.AllocateNumbersRequest(tenant_id=tenant, count=1),
        "ReleaseNumber": api_carrier.ReleaseNumberRequest(tenant_id=tenant, number=number),
        "ListTenants": api_carrier.ListTenantsRequest(),
        "GetConfig": api_tenant.TenantConfigRequest(),
        "CreateUser": api_tenant.CreateUserRequest(name="Intruder", role=api_common.ROLE_MEMBER),
        "DeleteUser": api_tenant.UserRef(user_id=user),
        "UpdateUser": api_tenant.UpdateUserRequest(user_id=user, name="Intruder"),
        "ListUsers": api_tenant.ListUsersRequest(),
        "PutExtension": api_tenant.PutExtensionRequest(
            extension=api_tenant.Extension(extension=ext, user_id=user)
        ),
        "DeleteExtension": api_tenant.ExtensionRef(extension=ext),
        "ListExtensions": api_tenant.ListExtensionsRequest(),
        "PutRingGroup": api_tenant.PutRingGroupRequest(
            group=api_tenant.RingGroup(group_id="grp", extensions=[ext])
        ),
        "DeleteRingGroup": api_tenant.RingGroupRef(group_id="nogrp" if absent else "grp"),
        "ListRingGroups": api_tenant.ListRingGroupsRequest(),
        "RouteNumber": api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, extension=ext)
        ),
        "ListNumbers": api_tenant.ListNumbersRequest(),
        "SetBusinessHours": api_tenant.SetBusinessHoursRequest(
            hours=api_tenant.BusinessHours(enabled=True, after_hours_extension=ext)
        ),
        "CreateApiKey": api_tenant.CreateApiKeyRequest(user_id=user),
        "RevokeApiKey": api_tenant.ApiKeyRef(key_id=key_id),
        "ListApiKeys": api_tenant.ListApiKeysRequest(),
        "Dial": api_calls.DialRequest(
            from_extension=ext, to=api_common.Destination(extension="102")
        ),
        "Answer": api_calls.AnswerRequest(call_id=call, extension="102"),
        "Reject": api_calls.RejectRequest(call_id=call, extension="102"),
        "Hangup": api_calls.CallRef(call_id=call),
        "Hold": api_calls.CallRef(call_id=call),
        "Resume": api_calls.CallRef(call_id=call),
        "Transfer": api_calls.TransferRequest(
            call_id=call, to=api_common.Destination(extension="103")
        ),
        "GetCall": api_calls.CallRef(call_id=call),
        "ListActiveCalls": api_calls.ListActiveCallsRequest(),
        "QueryCdrs": api_records.QueryCdrsRequest(),
        "GetCdr": api_records.GetCdrRequest(call_id=ended),
    }


async def a_snapshot(w: World) -> tuple[bytes, int]:
    config = await w.a_owner_client.get_config()
    call = await w.a_owner_client.get_call(w.a_call)
    return config.SerializeToString(deterministic=True), call.state


async def test_every_rpc_needs_credentials(world: World) -> None:
    reqs = requests_for(world)
    assert sorted(reqs) == sorted(m.name for _, m in UNARY)
    for service, method in UNARY:
        for token in (None, "", "fk_garbage", "fk_" + world.a_owner[3:-2] + "xx"):
            code, details, _ = await invoke(
                world.channel, service, method, reqs[method.name], token
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED, (method.name, token, code)
            assert DETAILS_RE.fullmatch(details)


async def test_roles_without_the_right_are_denied(world: World) -> None:
    reqs = requests_for(world)
    before = await a_snapshot(world)
    for service, method in UNARY:
        name = service.name
        denied = {
            "CarrierAdmin": [world.a_owner, world.a_member, world.b_owner],
            "TenantAdmin": [world.a_member, world.operator],
            "Records": [world.operator],  # a member reads their own calls' CDRs
            "Calls": [world.operator]
            + ([world.a_member] if method.name == "ListActiveCalls" else []),
        }[name]
        for token in denied:
            code, details, _ = await invoke(
                world.channel, service, method, reqs[method.name], token
            )
            assert code == grpc.StatusCode.PERMISSION_DENIED, (method.name, code, details)
    assert await a_snapshot(world) == before


async def test_another_tenant_sees_nothing_of_a(world: World) -> None:
    before = await a_snapshot(world)
    target = requests_for(world)
    for service, method in UNARY:
        if service.name == "CarrierAdmin":
            continue
        code, details, reply = await invoke(
            world.channel, service, method, target[method.name], world.b_owner
        )
        twin_code, twin_details, _ = await invoke(
            world.channel,
            service,
            method,
            requests_for(world, absent=True)[method.name],
            world.b_owner,
        )
        # the same answer as for an object that does not exist: nothing leaks
        assert code == twin_code, (method.name, details, twin_details)
        assert details.split(":")[0] == twin_details.split(":")[0], method.name
        if reply is not None:
            text = str(reply)
            for secret in (world.a_tenant, world.a_user, world.a_call, world.a_number):
                assert secret not in text, method.name
    assert await a_snapshot(world) == before


async def test_register_stream_authorisation(world: World, e2e: E2EFabric) -> None:
    from fabric.client import Softphone
    from fabric.errors import NotFound, PermissionDenied, Unauthenticated

    stranger = e2e.client(world.b_owner)
    for token, ext, error in (
        (world.b_owner, "101", NotFound),  # another tenant's extension
        (world.a_member, "102", PermissionDenied),  # another member's extension
        (world.operator, "101", PermissionDenied),
        ("fk_nope", "101", Unauthenticated),
    ):
        with pytest.raises(error):
            await Softphone(stranger.with_token(token), ext).register()
    await stranger.close()


# ---- hostile requests ---------------------------------------------------------------------

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "101",
            "1",
            "123456789",
            "+15550100000",
            "+1",
            "+4930123456789",
            "t-",
            "../../etc",
            "\x00",
            "'; DROP TABLE cdr; --",
            "ü" * 200,
            "9" * 5000,
            "grp",
            "Europe/Paris",
            "Not/AZone",
            "a" * 33,
        ]
    ),
)
ALLOWED = {
    OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}


def message_strategy(desc: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    cls = message_factory.GetMessageClass(desc)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in desc.fields:
        if f.type == f.TYPE_MESSAGE:
            if depth >= 2:
                continue
            one = message_strategy(f.message_type, depth + 1)
        elif f.type == f.TYPE_STRING:
            one = NASTY_TEXT
        elif f.type == f.TYPE_BYTES:
            one = st.binary(max_size=80)
        elif f.type == f.TYPE_BOOL:
            one = st.booleans()
        elif f.type == f.TYPE_ENUM:
            one = st.integers(-3, 12)
        elif f.type in (f.TYPE_UINT32, f.TYPE_FIXED32):
            one = st.sampled_from([0, 1, 5, 59, 100, 101, 1439, 1440, 2**32 - 1])
        elif f.type in (f.TYPE_UINT64, f.TYPE_FIXED64):
            one = st.integers(0, 2**64 - 1)
        elif f.type in (f.TYPE_INT64, f.TYPE_SINT64, f.TYPE_SFIXED64):
            one = st.sampled_from([0, -1, 1, 2**62, -(2**63), 1_700_000_000_000])
        elif f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            one = st.floats(allow_nan=True)
        else:
            one = st.integers(-(2**31), 2**31 - 1)
        if f.is_repeated:
            one = st.lists(one, max_size=4)
        fields[f.name] = one

    @st.composite
    def build(draw: Callable[..., Any]) -> Message:
        msg = cls()
        for name, strat in fields.items():
            if not draw(st.booleans()):
                continue
            value = draw(strat)
            field = desc.fields_by_name[name]
            if field.is_repeated:
                target = getattr(msg, name)
                for item in value:
                    if field.type == field.TYPE_MESSAGE:
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
            elif field.type == field.TYPE_MESSAGE:
                getattr(msg, name).CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return build()


async def test_hostile_requests_get_proper_status_and_change_nothing(
    world: World, e2e: E2EFabric
) -> None:
    loop = asyncio.get_running_loop()
    op = e2e.client()
    made = await op.create_tenant("Hostile target")
    victim = made.owner_api_key
    owner = op.with_token(victim)
    user = await owner.create_user("Someone")
    await owner.put_extension("201", user.user_id)
    await owner.put_extension("202", user.user_id)

    async def snapshot() -> bytes:
        cfg = await owner.get_config()
        return cfg.SerializeToString(deterministic=True)

    async def one(index: int, request: Message | bytes) -> None:
        service, method = UNARY[index]
        token = world.operator if service.name == "CarrierAdmin" else victim
        before = await snapshot()
        code, details, _ = await invoke(world.channel, service, method, request, token)
        assert code in ALLOWED, (method.name, code, details, request)
        if code != OK:
            assert DETAILS_RE.fullmatch(details), (method.name, details)
            if code == grpc.StatusCode.UNAVAILABLE:
                assert details.startswith("no-carrier-trunk"), details
            assert await snapshot() == before, ("partial write", method.name, request)

    requests = st.integers(0, len(UNARY) - 1).flatmap(
        lambda i: st.tuples(
            st.just(i),
            st.one_of(
                message_strategy(UNARY[i][1].input_type),
                st.binary(min_size=1, max_size=64),  # not a protobuf message at all
            ),
        )
    )

    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(requests)
    def run(item: tuple[int, Message | bytes]) -> None:
        asyncio.run_coroutine_threadsafe(one(*item), loop).result(timeout=60)

    await asyncio.to_thread(run)
    # the fabric still works after the storm
    async with Softphone(owner, "202"):  # only registered extensions ring
        call = await owner.dial("201", extension="202")
        assert (await owner.hangup(call.call_id)).end_reason == api_calls.END_REASON_CANCELLED
    await op.close()


async def test_a_revoked_key_is_refused_through_the_edge(e2e: E2EFabric) -> None:
    """Revoke a key, then use it: refused once the edge's cache entry expires (api.key_cache_s)."""
    from fabric.errors import NotFound, Unauthenticated
    from fabric.testing import eventually

    op = e2e.client()
    owner = op.with_token((await op.create_tenant("Revocation")).owner_api_key)
    user = await owner.create_user("Short Lived")
    made = await owner.create_api_key(user.user_id)
    member = owner.with_token(made.secret)
    with pytest.raises(NotFound):  # the key works: the edge let the call through
        await member.get_call(uuid.uuid4().hex)
    await owner.call(owner.admin.RevokeApiKey, api_tenant.ApiKeyRef(key_id=made.key.key_id))

    async def refused() -> Unauthenticated | None:
        try:
            await member.get_call(uuid.uuid4().hex)
        except NotFound:
            return None  # still trusted from the edge's cache
        except Unauthenticated as exc:
            return exc
        raise AssertionError("a call with an unknown id answered")

    await eventually(refused, e2e.settings.api.key_cache_s + 30, 0.5,
                     what="the revoked key refused at the edge")
    for _ in range(3):  # and it stays refused
        with pytest.raises(Unauthenticated):
            await member.get_call(uuid.uuid4().hex)
    await op.close()

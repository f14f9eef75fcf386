"""The Messaging servicer and the SMS actors in one process (LocalActorSystem, manual clock),
with in-memory fakes of the content and record stores: delivery to the Register endpoints,
history on both sides, keywords, reach, bad input storing nothing, the rate limit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from actors.api.messaging import MessagingServicer
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY, NumberDirectory
from actors.privacy import PrivacyActor, privacy_address
from actors.sms import ConversationActor, ConversationKeys, SmsTenantActor
from actors.sms.gateway import InboundSms
from actors.sms.inbound import receive_inbound
from actors.sms.keys import KIND
from actors.tenant import TenantActor, tenant_address
from fabric.actor import ActorAddress
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.config import ApiSettings
from fabric.edge.auth import Principal, Role, current_principal
from fabric.edge.credentials import new_api_key
from fabric.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from fabric.storage.mdr import Mdr, MdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock
from fabric.vault.content import ContentStore


class FakeReader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read_all(self) -> bytes:
        return self.data


class FakeContent:
    """Bodies by (tenant, class, object id)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], bytes] = {}
        self.metadata: dict[tuple[str, str, str], dict[str, str]] = {}

    async def put(self, tenant_id: str, data_class: str, object_id: str, data: bytes,
                  metadata: dict[str, str] | None = None) -> None:
        assert (tenant_id, data_class, object_id) not in self.objects
        self.objects[(tenant_id, data_class, object_id)] = data
        self.metadata[(tenant_id, data_class, object_id)] = dict(metadata or {})

    async def open(self, tenant_id: str, data_class: str, object_id: str) -> FakeReader:
        data = self.objects.get((tenant_id, data_class, object_id))
        if data is None:
            raise NotFound("no object", error_id="content-not-found")
        return FakeReader(data)

    async def delete(self, tenant_id: str, data_class: str, object_id: str) -> float:
        del self.objects[(tenant_id, data_class, object_id)]
        return 0.0


class FakeKeys:
    """Conversation keys from a plain hash (the vault's blind index has its own tests)."""

    async def address(self, tenant_id: str, own_number: str, other_number: str) -> ActorAddress:
        digest = hashlib.sha256(f"{own_number}>{other_number}".encode()).hexdigest()[:32]
        return ActorAddress(KIND, f"{tenant_id}|{digest}")


class FakeMdrs:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Mdr] = {}

    async def write(self, mdr: Mdr) -> None:
        mdr.validate()
        self.rows[(mdr.tenant_id, mdr.message_id, mdr.direction)] = mdr


@dataclass
class World:
    system: LocalActorSystem
    api: MessagingServicer
    content: FakeContent
    mdrs: FakeMdrs
    a: str
    b: str
    a1: str
    a2: str
    b1: str
    member: str  # user id of A's member, whose extension 101 has a1
    phone: Any  # B's endpoint on extension 201


async def _tenant(system: LocalActorSystem, tenant_id: str) -> msg_common.Principal:
    key_id, _, digest = new_api_key(tenant_id)
    await system.ref(tenant_address(tenant_id)).ask(msg_tenant.CreateTenant(
        tenant_id=tenant_id, name=tenant_id, plan=api_carrier.PLAN_STANDARD, owner_name="O",
        owner_user_id="u-owner", owner_key_id=key_id, owner_secret_hash=digest))
    return msg_common.Principal(tenant_id=tenant_id, user_id="u-owner", role=api_common.ROLE_OWNER)


async def _admin(system: LocalActorSystem, owner: msg_common.Principal, **op: Any) -> Any:
    return await system.ref(tenant_address(owner.tenant_id)).ask(
        msg_tenant.AdminOp(principal=owner, **op))


async def _numbers(system: LocalActorSystem, tenant_id: str, count: int) -> list[str]:
    got = await system.ref(DIRECTORY).ask(
        msg_numbers.AllocateNumbers(tenant_id=tenant_id, count=count),
        reply=msg_numbers.AllocatedNumbers)
    await system.ref(tenant_address(tenant_id)).ask(msg_tenant.AddNumbers(numbers=got.numbers))
    return list(got.numbers)


async def _user_ext(system: LocalActorSystem, owner: msg_common.Principal, ext: str,
                    number: str) -> str:
    user = await _admin(system, owner, create_user=api_tenant.CreateUserRequest(
        name=f"user {ext}", role=api_common.ROLE_MEMBER))
    await _admin(system, owner, put_extension=api_tenant.PutExtensionRequest(
        extension=api_tenant.Extension(extension=ext, user_id=user.user_id)))
    await _admin(system, owner, route_number=api_tenant.RouteNumberRequest(
        route=api_tenant.NumberRoute(number=number, extension=ext)))
    return str(user.user_id)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    content, mdrs = FakeContent(), FakeMdrs()
    system = LocalActorSystem(
        [TenantActor, NumberDirectory, ConversationActor, SmsTenantActor, PrivacyActor],
        services={ContentStore: content, MdrStore: mdrs, ConversationKeys: FakeKeys()},
        clock=ManualClock(), background=False,
    )
    await system.start()
    try:
        owner_a = await _tenant(system, "t-a")
        owner_b = await _tenant(system, "t-b")
        a1, a2 = await _numbers(system, "t-a", 2)
        [b1] = await _numbers(system, "t-b", 1)
        member = await _user_ext(system, owner_a, "101", a1)
        await _user_ext(system, owner_a, "102", a2)
        b_user = await _user_ext(system, owner_b, "201", b1)
        phone = await system.open_endpoint()
        await system.ref(tenant_address("t-b")).ask(msg_tenant.RegisterEndpoint(
            principal=msg_common.Principal(tenant_id="t-b", user_id=b_user,
                                           role=api_common.ROLE_MEMBER),
            extension="201", registration_id="r1",
            endpoint=msg_common.Address(kind=phone.address.kind, key=phone.address.key)))
        api = MessagingServicer(system, ApiSettings(sms_per_s_per_tenant=1.0, sms_burst=30),
                                clock=ManualClock(), keys=FakeKeys())  # never refills
        yield World(system, api, content, mdrs, "t-a", "t-b", a1, a2, b1, member, phone)
    finally:
        await system.stop()


def _as(tenant: str, role: Role = Role.OWNER, user: str = "u-owner") -> None:
    current_principal.set(Principal(role, tenant, user))


async def _send(w: World, sender: str, to: str, body: str) -> api_messaging.TextMessage:
    return await w.api.SendMessage(
        api_messaging.SendMessageRequest(to=to, body=body, **{"from": sender}), None)  # type: ignore[arg-type]


async def _history(w: World, own: str, other: str) -> api_messaging.GetHistoryResponse:
    ref = api_messaging.ConversationRef(own_number=own, other_number=other)
    return await w.api.GetHistory(api_messaging.GetHistoryRequest(conversation=ref), None)  # type: ignore[arg-type]


async def test_delivered_to_the_register_endpoint_and_stored_on_both_sides(world: World) -> None:
    w = world
    _as(w.a)
    sent = await _send(w, "101", w.b1, "hello")
    assert sent.status == api_messaging.DELIVERY_STATUS_DELIVERED
    assert getattr(sent, "from") == w.a1 and sent.sent_by_extension == "101"
    event = w.phone._items[-1]  # the endpoint's queue (LocalActorSystem)
    assert isinstance(event, api_calls.CallEvent)
    assert event.type == api_calls.CALL_EVENT_MESSAGE and event.message.body == "hello"
    _as(w.b)
    b_side = await _history(w, w.b1, w.a1)
    assert [(m.body, m.read) for m in b_side.messages] == [("hello", False)]
    assert b_side.conversation.unread_count == 1
    assert len(w.content.objects) == 2  # one sealed copy per side
    assert {(k[0], r.direction) for k, r in w.mdrs.rows.items()} == {
        (w.a, "outbound"), (w.b, "inbound")}
    assert all(b"hello" == v for v in w.content.objects.values())
    # each copy names its numbers (privacy's per-subject export and erasure find it by them)
    for (tenant, _, _), meta in w.content.metadata.items():
        names = set(meta["subjects"].split(","))
        assert {w.a1, w.b1} <= names
        assert ("101" in names) == (tenant == w.a)


async def test_stop_refuses_start_allows(world: World) -> None:
    w = world
    _as(w.a)
    await _send(w, w.a1, w.b1, "hi")
    _as(w.b)
    await _send(w, w.b1, w.a1, "QUIT")
    autos = [m for m in (await _history(w, w.b1, w.a1)).messages if m.automatic]
    assert len(autos) == 1
    _as(w.a)
    with pytest.raises(FailedPrecondition) as exc:
        await _send(w, w.a1, w.b1, "still there?")
    assert exc.value.error_id == "recipient-opted-out"
    _as(w.b)
    await _send(w, w.b1, w.a1, "start")
    _as(w.a)
    assert (await _send(w, w.a1, w.b1, "back")).status == api_messaging.DELIVERY_STATUS_DELIVERED


async def test_bad_input_stores_nothing(world: World) -> None:
    w = world
    _as(w.a)
    for sender, to, body, error in [
        (w.a1, w.b1, "", InvalidArgument), (w.a1, w.b1, "x" * 1601, InvalidArgument),
        (w.a1, "555", "x", InvalidArgument), (w.b1, w.a1, "x", NotFound),
        (w.a1, "+442071838750", "x", Unavailable),
    ]:
        with pytest.raises(error):
            await _send(w, sender, to, body)
    assert w.content.objects == {} and w.mdrs.rows == {}


async def test_member_reach(world: World) -> None:
    w = world
    _as(w.a)
    await _send(w, w.a2, w.b1, "to b from a2")
    _as(w.a, Role.MEMBER, w.member)  # the member of 101 (a1)
    with pytest.raises(NotFound):
        await _history(w, w.a2, w.b1)
    with pytest.raises(PermissionDenied):
        await _send(w, w.a2, w.b1, "not mine")
    _as(w.b)
    with pytest.raises(NotFound):
        await _history(w, w.a2, w.b1)


async def test_rate_limit(world: World) -> None:
    w = world
    _as(w.a)
    with pytest.raises(ResourceExhausted) as exc:
        for _ in range(31):
            await _send(w, w.a1, w.b1, "spam")
    assert exc.value.error_id == "rate-limited-sms"
    assert exc.value.details["retry_after_s"] > 0


async def _restrict(w: World, tenant_id: str, subject: str, on: bool = True) -> None:
    await w.system.ref(privacy_address(tenant_id)).ask(msg_privacy.SetRestriction(
        principal=msg_common.Principal(tenant_id=tenant_id, user_id="u-owner",
                                       role=api_common.ROLE_OWNER),
        subject=subject, restricted=on))


async def test_restricted_subject_is_not_processed(world: World) -> None:
    """A restricted sender, recipient number or outside sender: refused privacy-restricted,
    nothing stored, sealed or recorded; lifting the restriction lets the message through."""
    w = world
    await _restrict(w, w.a, w.member)  # the member of 101 sends
    _as(w.a, Role.MEMBER, w.member)
    with pytest.raises(FailedPrecondition) as exc:
        await _send(w, "101", w.b1, "hello")
    assert exc.value.error_id == "privacy-restricted"
    assert w.content.objects == {} and w.mdrs.rows == {}
    await _restrict(w, w.a, w.member, on=False)
    await _restrict(w, w.a, w.b1)  # the other number, as tenant a's subject
    with pytest.raises(FailedPrecondition) as exc:
        await _send(w, "101", w.b1, "hello")
    assert exc.value.error_id == "privacy-restricted"
    outsider = "+15550100321"
    await _restrict(w, w.b, outsider)
    with pytest.raises(FailedPrecondition) as exc:
        await receive_inbound(w.system, FakeKeys(), InboundSms("m1", outsider, w.b1, "hi", 1))
    assert exc.value.error_id == "privacy-restricted"
    assert w.content.objects == {} and w.mdrs.rows == {}
    await _restrict(w, w.a, w.b1, on=False)
    assert (await _send(w, "101", w.b1, "now")).status == api_messaging.DELIVERY_STATUS_DELIVERED

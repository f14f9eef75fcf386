"""A conversation longer than several pages, over the real embedded stores (SQLite files,
the vault's sealed content store, sealed actor state) on a LocalActorSystem: history in order
across the live tail and the sealed pages, unread counts and mark-read reaching into pages,
deleting a paged message, deleting the conversation removes its pages, privacy export and
erasure and retention find the paged messages' bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.api.messaging import MessagingServicer
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY, NumberDirectory
from actors.privacy import PrivacyActor, PrivacyIndex
from actors.privacy.retention import sweep_content
from actors.privacy.service import PrivacyService
from actors.privacy.sources import Sources
from actors.sms import ConversationActor, ConversationKeys, SmsTenantActor, VaultConversationKeys
from actors.sms import history as paging
from actors.tenant import TenantActor, tenant_address
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.config import ApiSettings, StorageSettings, VaultSettings
from fabric.edge.auth import Principal, Role, current_principal
from fabric.edge.credentials import new_api_key
from fabric.errors import NotFound
from fabric.storage.factory import Stores, open_stores
from fabric.storage.mdr import MdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock
from fabric.vault.content import SMS_BODY, SMS_PAGE, ContentStore
from fabric.vault.vault import Vault

PAGE = 5  # small pages, so a test conversation spans several of them
N = 43  # messages: 8 pages and a tail


@dataclass
class World:
    stores: Stores
    system: LocalActorSystem
    api: MessagingServicer
    privacy: PrivacyService
    clock: ManualClock
    a1: str
    b1: str

    @property
    def content(self) -> ContentStore:
        assert self.stores.content is not None
        return self.stores.content


async def _tenant(system: LocalActorSystem, tenant_id: str) -> None:
    key_id, _, digest = new_api_key(tenant_id)
    await system.ref(tenant_address(tenant_id)).ask(msg_tenant.CreateTenant(
        tenant_id=tenant_id, name=tenant_id, plan=api_carrier.PLAN_STANDARD, owner_name="O",
        owner_user_id="u-owner", owner_key_id=key_id, owner_secret_hash=digest))


def _owner(tenant_id: str) -> msg_common.Principal:
    return msg_common.Principal(tenant_id=tenant_id, user_id="u-owner",
                                role=api_common.ROLE_OWNER)


async def _number(system: LocalActorSystem, tenant_id: str, ext: str) -> str:
    got = await system.ref(DIRECTORY).ask(
        msg_numbers.AllocateNumbers(tenant_id=tenant_id, count=1),
        reply=msg_numbers.AllocatedNumbers)
    ref = system.ref(tenant_address(tenant_id))
    await ref.ask(msg_tenant.AddNumbers(numbers=got.numbers))

    async def admin(**op: Any) -> Any:
        return await ref.ask(msg_tenant.AdminOp(principal=_owner(tenant_id), **op))

    user = await admin(create_user=api_tenant.CreateUserRequest(name=f"user {ext}"))
    await admin(put_extension=api_tenant.PutExtensionRequest(
        extension=api_tenant.Extension(extension=ext, user_id=user.user_id)))
    await admin(route_number=api_tenant.RouteNumberRequest(
        route=api_tenant.NumberRoute(number=got.numbers[0], extension=ext)))
    return str(got.numbers[0])


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setattr(paging, "PAGE_MESSAGES", PAGE)
    monkeypatch.setattr(paging, "TAIL_MAX", 2 * PAGE)
    clock = ManualClock(1_780_000_000.0)
    stores = await open_stores(
        StorageSettings(backend="embedded", data_dir=tmp_path / "data"),
        vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        sweep=False, clock=clock)
    assert stores.content is not None and stores.vault is not None
    keys = VaultConversationKeys(stores.vault)
    system = LocalActorSystem(
        [TenantActor, NumberDirectory, ConversationActor, SmsTenantActor, PrivacyActor,
         PrivacyIndex],
        state_store=stores.state, reminder_store=stores.reminders,
        services={ContentStore: stores.content, Vault: stores.vault, MdrStore: stores.mdr,
                  ConversationKeys: keys},
        clock=clock, background=False,
    )
    await system.start()
    try:
        await _tenant(system, "t-a")
        await _tenant(system, "t-b")
        a1 = await _number(system, "t-a", "101")
        b1 = await _number(system, "t-b", "201")
        api = MessagingServicer(system, ApiSettings(sms_per_s_per_tenant=1.0, sms_burst=10_000),
                                clock=clock, keys=keys)
        privacy = PrivacyService(system, Sources(stores.cdr, stores.content, stores.mdr), clock)
        yield World(stores, system, api, privacy, clock, a1, b1)
    finally:
        await system.stop()
        await stores.close()


def _as(tenant: str) -> None:
    current_principal.set(Principal(Role.OWNER, tenant, "u-owner"))


async def _converse(w: World, n: int = N) -> list[str]:
    """n messages, mostly A to B, every third B to A; their bodies, oldest first."""
    bodies = []
    for i in range(n):
        a_sends = i % 3 != 2
        _as("t-a" if a_sends else "t-b")
        body = f"message {i}"
        await w.api.SendMessage(api_messaging.SendMessageRequest(  # type: ignore[arg-type]
            to=w.b1 if a_sends else w.a1, body=body, **{"from": w.a1 if a_sends else w.b1}),
            None)
        bodies.append(body)
    return bodies


def _ref(w: World, tenant: str) -> api_messaging.ConversationRef:
    own, other = (w.a1, w.b1) if tenant == "t-a" else (w.b1, w.a1)
    return api_messaging.ConversationRef(own_number=own, other_number=other)


async def _all(w: World, tenant: str, page_size: int = 7) -> list[api_messaging.TextMessage]:
    """The whole history through the API's page tokens, newest first."""
    _as(tenant)
    out: list[api_messaging.TextMessage] = []
    token = ""
    while True:
        page = await w.api.GetHistory(api_messaging.GetHistoryRequest(  # type: ignore[arg-type]
            conversation=_ref(w, tenant), page_size=page_size, page_token=token), None)
        assert len(page.messages) <= page_size
        out.extend(page.messages)
        token = page.next_page_token
        if not token:
            return out


async def _summary(w: World, tenant: str) -> api_messaging.Conversation:
    _as(tenant)
    got = await w.api.ListConversations(api_messaging.ListConversationsRequest(), None)  # type: ignore[arg-type]
    [conv] = got.conversations
    return conv


async def _pages(w: World, tenant: str) -> list[str]:
    return [i.object_id for i in await w.content.list(tenant, SMS_PAGE)]


async def test_history_in_order_across_pages_and_the_tail_stays_bounded(world: World) -> None:
    w = world
    bodies = await _converse(w)
    for tenant in ("t-a", "t-b"):
        pages = await _pages(w, tenant)
        assert len(pages) >= (N - 2 * PAGE) // PAGE  # most of the history is paged out
        history = await _all(w, tenant)
        assert [m.body for m in history] == list(reversed(bodies))
        assert not any(m.body_erased for m in history)
        conv = await _summary(w, tenant)
        assert conv.message_count == N
    # B reads nothing yet: every message A sent is unread on B's side, paged or not
    inbound_b = sum(1 for i in range(N) if i % 3 != 2)
    assert (await _summary(w, "t-b")).unread_count == inbound_b
    # a page's object holds no plaintext: the content store's backend sees sealed bytes only
    row = await w.content.backend.object("t-b", SMS_PAGE, (await _pages(w, "t-b"))[0])
    assert row is not None
    raw = b"".join([bytes(c) async for c in w.content.backend.read_chunks(row.key_id, 1)])
    assert w.a1.encode() not in raw and w.b1.encode() not in raw


async def test_mark_read_up_to_a_paged_message(world: World) -> None:
    w = world
    await _converse(w)
    history = list(reversed(await _all(w, "t-b")))  # oldest first
    inbound = [m for m in history if m.direction == api_messaging.MESSAGE_DIRECTION_INBOUND]
    target = inbound[9]  # deep in the pages
    _as("t-b")
    conv = await w.api.MarkRead(api_messaging.MarkReadRequest(  # type: ignore[arg-type]
        conversation=_ref(w, "t-b"), up_to_message_id=target.message_id), None)
    assert conv.unread_count == len(inbound) - 10
    after = {m.message_id: m.read for m in await _all(w, "t-b")}
    assert [after[m.message_id] for m in inbound] == [True] * 10 + [False] * (len(inbound) - 10)
    conv = await w.api.MarkRead(api_messaging.MarkReadRequest(  # type: ignore[arg-type]
        conversation=_ref(w, "t-b")), None)
    assert conv.unread_count == 0 and (await _summary(w, "t-b")).unread_count == 0


async def test_delete_a_paged_message(world: World) -> None:
    w = world
    bodies = await _converse(w)
    oldest = list(reversed(await _all(w, "t-a")))
    victim = oldest[3]  # in the first page
    pages_before = await _pages(w, "t-a")
    _as("t-a")
    got = await w.api.DeleteMessage(api_messaging.DeleteMessageRequest(  # type: ignore[arg-type]
        conversation=_ref(w, "t-a"), message_id=victim.message_id), None)
    assert got.deleted == 1
    history = await _all(w, "t-a")
    assert [m.body for m in history] == [b for b in reversed(bodies) if b != victim.body]
    assert (await _summary(w, "t-a")).message_count == N - 1
    bodies_left = {i.object_id for i in await w.content.list("t-a", SMS_BODY)}
    assert len(bodies_left) == N - 1
    assert not any(o.startswith(victim.message_id) for o in bodies_left)
    # the page was written again under a new id; the old object is gone
    pages_after = await _pages(w, "t-a")
    assert len(pages_after) == len(pages_before)
    assert set(pages_before) - set(pages_after) and set(pages_after) - set(pages_before)
    with pytest.raises(NotFound):
        await w.api.DeleteMessage(api_messaging.DeleteMessageRequest(  # type: ignore[arg-type]
            conversation=_ref(w, "t-a"), message_id=victim.message_id), None)


async def test_delete_the_conversation_removes_its_pages_and_bodies(world: World) -> None:
    w = world
    await _converse(w)
    assert await _pages(w, "t-a")
    _as("t-a")
    got = await w.api.DeleteConversation(_ref(w, "t-a"), None)  # type: ignore[arg-type]
    assert got.deleted == N
    assert await _pages(w, "t-a") == []
    assert await w.content.list("t-a", SMS_BODY) == []
    # the other side keeps its own copy
    assert len(await _all(w, "t-b")) == N and await _pages(w, "t-b")


async def test_export_and_erase_find_the_paged_messages(world: World) -> None:
    w = world
    bodies = await _converse(w)
    import io
    import json
    import zipfile

    events = [e async for e in w.privacy.export(
        _owner("t-a"), api_privacy.ExportRequest(subject=w.b1))]
    data = b"".join(e.data.chunk for e in events if e.HasField("data"))
    z = zipfile.ZipFile(io.BytesIO(data))
    exported = [json.loads(z.read(n))["body"] for n in z.namelist() if n.startswith("sms/")]
    assert sorted(exported) == sorted(bodies)  # every message, the paged ones too
    answer = await w.privacy.erase(_owner("t-a"), api_privacy.EraseRequest(subject=w.b1))
    assert answer.deleted[SMS_BODY] == N
    history = await _all(w, "t-a")
    assert len(history) == N and all(m.body_erased and not m.body for m in history)
    assert not any(m.body_erased for m in await _all(w, "t-b"))  # B's own copies


async def test_retention_deletes_paged_bodies(world: World) -> None:
    w = world
    await _converse(w)
    await w.clock.advance(2 * 86_400)
    deleted, _ = await sweep_content(
        w.content, "t-a", api_privacy.RetentionPolicy(sms_days=1), w.clock.now())
    assert deleted == N
    assert await w.content.list("t-a", SMS_BODY) == []
    history = await _all(w, "t-a")
    assert len(history) == N and all(m.body_erased for m in history)


async def test_a_long_unpaged_tail_is_paged_out_at_its_next_save(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state saved with more than a full tail (as before pages existed) is paged out at
    once, in order, by the next message."""
    w = world
    monkeypatch.setattr(paging, "TAIL_MAX", 10_000)
    bodies = await _converse(w, 37)
    assert await _pages(w, "t-a") == []
    monkeypatch.setattr(paging, "TAIL_MAX", 2 * PAGE)
    bodies += await _converse(w, 1)
    assert len(await _pages(w, "t-a")) == (38 - 2 * PAGE) // PAGE + 1
    assert [m.body for m in await _all(w, "t-a")] == list(reversed(bodies))

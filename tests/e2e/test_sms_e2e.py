"""SMS end to end: two tenants over the real API (gRPC + TLS), real Ray, real Cassandra.

Send and receive on the Register stream, history on both sides, STOP / START / HELP, segment
counts, cross-tenant and member isolation, bad input that stores nothing, deletion, message
detail records, the per-tenant rate, and a raw scan of the Cassandra node's files for a body.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from calls_e2e_harness import E2EFabric
from store_files import SCAN_TABLE_OPTIONS, read_all

from cluster.cassandra import DEFAULT_DIR, ClusterLayout
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.client import FabricClient, Softphone
from fabric.client.messaging import SmsClient
from fabric.errors import (
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from fabric.testing import eventually

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]

INBOUND = api_messaging.MESSAGE_DIRECTION_INBOUND
OUTBOUND = api_messaging.MESSAGE_DIRECTION_OUTBOUND
DELIVERED = api_messaging.DELIVERY_STATUS_DELIVERED


@dataclass
class World:
    """Tenant A (numbers a1 -> ext 101 of member m1, a2 -> ext 102 of member m2) and tenant B
    (number b -> ext 201, registered); SMS clients for each credential."""

    a: SmsClient
    a_m1: SmsClient
    a_m2: SmsClient
    b: SmsClient
    a_tenant: str
    b_tenant: str
    a1: str
    a2: str
    b1: str
    b_phone: Softphone
    fabric: E2EFabric


_KEEP: list[object] = []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(e2e: E2EFabric) -> World:
    op = e2e.client()
    a = await op.create_tenant("SMS A")
    b = await op.create_tenant("SMS B")
    a_owner = op.with_token(a.owner_api_key)
    b_owner = op.with_token(b.owner_api_key)
    m1 = await a_owner.create_user("Member One")
    m2 = await a_owner.create_user("Member Two")
    await a_owner.put_extension("101", m1.user_id)
    await a_owner.put_extension("102", m2.user_id)
    a1, a2 = await op.allocate_numbers(a.tenant.tenant_id, count=2)
    await a_owner.route_number(a1, extension="101")
    await a_owner.route_number(a2, extension="102")
    ub = await b_owner.create_user("Bea")
    await b_owner.put_extension("201", ub.user_id)
    [b1] = await op.allocate_numbers(b.tenant.tenant_id, count=1)
    await b_owner.route_number(b1, extension="201")
    k1 = await a_owner.create_api_key(m1.user_id)
    k2 = await a_owner.create_api_key(m2.user_id)
    phone = await Softphone(b_owner, "201").register()
    _KEEP.extend([op, phone])
    return World(
        a=SmsClient(a_owner), a_m1=SmsClient(op.with_token(k1.secret)),
        a_m2=SmsClient(op.with_token(k2.secret)), b=SmsClient(b_owner),
        a_tenant=a.tenant.tenant_id, b_tenant=b.tenant.tenant_id, a1=a1, a2=a2, b1=b1,
        b_phone=phone, fabric=e2e,
    )


async def _message_event(phone: Softphone, message_id: str) -> api_calls.CallEvent:
    while True:
        event = await phone.expect(api_calls.CALL_EVENT_MESSAGE, timeout_s=15)
        if event.message.message_id == message_id:
            return event


async def test_send_receive_and_history_on_both_sides(world: World) -> None:
    w = world
    sent = await w.a.send(w.a1, w.b1, "Hello from A")
    assert (sent.status, sent.direction, sent.segments) == (DELIVERED, OUTBOUND, 1)
    assert (getattr(sent, "from"), sent.to, sent.body) == (w.a1, w.b1, "Hello from A")

    event = await _message_event(w.b_phone, sent.message_id)
    assert (getattr(event, "from"), event.to, event.extension) == (w.a1, w.b1, "201")
    assert event.message.body == "Hello from A"
    assert event.message.direction == INBOUND

    b_side = await w.b.history(w.b1, w.a1)
    assert [(m.message_id, m.direction, m.body, m.read) for m in b_side.messages] == [
        (sent.message_id, INBOUND, "Hello from A", False)
    ]
    assert b_side.conversation.unread_count == 1
    a_side = await w.a.history(w.a1, w.b1)
    assert [(m.message_id, m.direction, m.body) for m in a_side.messages] == [
        (sent.message_id, OUTBOUND, "Hello from A")
    ]

    read = await w.b.mark_read(w.b1, w.a1)
    assert read.unread_count == 0
    # B answers from its extension: it sends as the number routed to it
    reply = await w.b.send("201", w.a1, "Hi A, B here")
    assert getattr(reply, "from") == w.b1 and reply.sent_by_extension == "201"
    a_side = await w.a.history(w.a1, w.b1)
    assert [m.body for m in a_side.messages] == ["Hi A, B here", "Hello from A"]
    assert a_side.messages[0].direction == INBOUND and a_side.conversation.unread_count == 1
    listed = await w.b.conversations()
    assert (w.b1, w.a1) in [(c.own_number, c.other_number) for c in listed.conversations]


async def test_history_pages_newest_first(world: World) -> None:
    w = world
    for i in range(5):
        await w.a.send(w.a2, w.b1, f"page {i}")
    first = await w.a.history(w.a2, w.b1, page_size=2)
    assert [m.body for m in first.messages] == ["page 4", "page 3"]
    second = await w.a.history(w.a2, w.b1, page_size=2, page_token=first.next_page_token)
    assert [m.body for m in second.messages] == ["page 2", "page 1"]
    third = await w.a.history(w.a2, w.b1, page_size=2, page_token=second.next_page_token)
    assert [m.body for m in third.messages] == ["page 0"] and third.next_page_token == ""
    with pytest.raises(InvalidArgument) as exc:
        await w.a.history(w.a2, w.b1, page_token="not-a-token")
    assert exc.value.error_id == "invalid-page-token"


async def test_segments_gsm7_and_ucs2(world: World) -> None:
    w = world
    gsm = await w.a.send(w.a1, w.b1, "a" * 161)
    assert (gsm.encoding, gsm.segments) == (api_messaging.SMS_ENCODING_GSM7, 2)
    emoji = await w.a.send(w.a1, w.b1, "😀" * 36)  # 72 UTF-16 units
    assert (emoji.encoding, emoji.segments) == (api_messaging.SMS_ENCODING_UCS2, 2)
    b_side = await w.b.history(w.b1, w.a1, page_size=2)
    assert [(m.body, m.segments, m.encoding) for m in b_side.messages] == [
        ("😀" * 36, 2, api_messaging.SMS_ENCODING_UCS2),
        ("a" * 161, 2, api_messaging.SMS_ENCODING_GSM7),
    ]


async def test_stop_refuses_then_start_allows_and_help_answers(world: World) -> None:
    w = world
    stop = await w.b.send(w.b1, w.a1, "  Stop ")
    assert stop.status == DELIVERED
    b_side = await w.b.history(w.b1, w.a1, page_size=3)
    autos = [m for m in b_side.messages if m.automatic]
    assert len(autos) == 1 and autos[0].direction == INBOUND  # one confirmation
    assert "unsubscribed" in autos[0].body
    with pytest.raises(FailedPrecondition) as exc:
        await w.a.send(w.a1, w.b1, "are you there?")
    assert exc.value.error_id == "recipient-opted-out"
    a_view = await w.a.history(w.a1, w.b1, page_size=1)
    assert a_view.conversation.opted_out
    assert a_view.messages[0].automatic and a_view.messages[0].direction == OUTBOUND
    # another of A's numbers may still write (the opt-out is per sending number)
    assert (await w.a.send(w.a2, w.b1, "from the other number")).status == DELIVERED

    await w.b.send(w.b1, w.a1, "UNSTOP")
    again = await w.a.send(w.a1, w.b1, "welcome back")
    assert again.status == DELIVERED

    settings = await w.a.set_help_text("Acme support: reply STOP to stop, or call us.")
    assert settings.help_text.startswith("Acme support")
    await w.b.send(w.b1, w.a1, "help")
    b_side = await w.b.history(w.b1, w.a1, page_size=1)
    assert b_side.messages[0].automatic
    assert b_side.messages[0].body == "Acme support: reply STOP to stop, or call us."


async def test_cross_tenant_and_member_isolation(world: World) -> None:
    w = world
    await w.a.send(w.a1, w.b1, "for member one")
    # another tenant: A's conversations do not exist for B
    with pytest.raises(NotFound) as nf:
        await w.b.history(w.a1, w.b1)
    assert nf.value.error_id == "conversation-not-found"
    with pytest.raises(NotFound) as nf:
        await w.b.send(w.a1, w.b1, "spoofed")
    assert nf.value.error_id == "number-not-found"
    # member one reaches a1 (routed to 101), not a2
    assert (await w.a_m1.history(w.a1, w.b1)).messages
    with pytest.raises(NotFound):
        await w.a_m1.history(w.a2, w.b1)
    mine = await w.a_m1.conversations()
    assert {c.own_number for c in mine.conversations} == {w.a1}
    # member two may neither read nor send from a1
    with pytest.raises(NotFound) as nf:
        await w.a_m2.history(w.a1, w.b1)
    assert nf.value.error_id == "conversation-not-found"
    with pytest.raises(PermissionDenied) as pd:
        await w.a_m2.send(w.a1, w.b1, "not my number")
    assert pd.value.error_id == "number-not-yours"
    with pytest.raises(PermissionDenied):
        await w.a_m2.send("101", w.b1, "not my extension")
    with pytest.raises(PermissionDenied):  # settings are for owners and admins
        await w.a_m1.set_help_text("members may not")
    assert {c.own_number for c in (await w.a_m2.conversations()).conversations} <= {w.a2}


async def test_bad_input_is_refused_and_stores_nothing(world: World) -> None:
    w = world
    before = await w.a.conversations(page_size=200)
    outside = "+14155550123"
    cases: list[tuple[str, str, str, type[FabricError], str]] = [
        (w.a1, w.b1, "", InvalidArgument, "empty-body"),
        (w.a1, w.b1, "x" * 1601, InvalidArgument, "body-too-long"),
        (w.a1, "12345", "hi", InvalidArgument, "invalid-number"),
        ("+1555", w.b1, "hi", InvalidArgument, "invalid-number"),
        (w.b1, w.a1, "hi", NotFound, "number-not-found"),  # a number A does not hold
        (w.a1, w.a1, "hi", InvalidArgument, "same-number"),
        (w.a1, outside, "hi", Unavailable, "no-carrier-trunk"),
        (w.a1, "+15550109997", "hi", NotFound, "number-not-in-service"),  # unallocated
    ]
    for sender, to, body, error, error_id in cases:
        with pytest.raises(error) as exc:
            await w.a.send(sender, to, body)
        assert exc.value.error_id == error_id, (sender, to, len(body))
    after = await w.a.conversations(page_size=200)
    assert [(c.own_number, c.other_number, c.message_count) for c in after.conversations] == [
        (c.own_number, c.other_number, c.message_count) for c in before.conversations
    ]
    with pytest.raises(NotFound):
        await w.a.history(w.a1, outside)


async def test_delete_message_and_conversation_keeps_records(world: World) -> None:
    w = world
    keep = await w.a.send(w.a2, w.b1, "keep me")
    drop = await w.a.send(w.a2, w.b1, "delete me")
    assert await w.a.delete_message(w.a2, w.b1, drop.message_id) == 1
    bodies = [m.body for m in (await w.a.history(w.a2, w.b1, page_size=200)).messages]
    assert "delete me" not in bodies and "keep me" in bodies
    with pytest.raises(NotFound) as exc:
        await w.a.delete_message(w.a2, w.b1, drop.message_id)
    assert exc.value.error_id == "message-not-found"
    # the recipient's copy is its own
    assert "delete me" in [m.body for m in (await w.b.history(w.b1, w.a2, page_size=200)).messages]
    deleted = await w.a.delete_conversation(w.a2, w.b1)
    assert deleted >= 1
    empty = await w.a.history(w.a2, w.b1)
    assert list(empty.messages) == [] and empty.conversation.message_count == 0
    # message detail records stay (7 years), numbers readable through the vault
    mdr = w.fabric.stores.mdr
    assert mdr is not None
    now_ms = int(time.time() * 1000)
    records = await mdr.list(w.a_tenant, now_ms - 3_600_000, now_ms + 60_000, limit=1000)
    mine = {r.message_id: r for r in records}
    assert {keep.message_id, drop.message_id} <= set(mine)
    rec = mine[drop.message_id]
    assert (rec.from_number, rec.to_number, rec.direction, rec.status, rec.segments) == (
        w.a2, w.b1, "outbound", "delivered", 1
    )


async def test_rate_limit_per_tenant(world: World) -> None:
    w = world
    # 100 at once against a bucket of 40 (api.sms_burst) refilled at 20/s
    outcomes = await asyncio.gather(
        *(w.b.send(w.b1, w.a2, f"burst {i}") for i in range(100)), return_exceptions=True
    )
    refusals = [o for o in outcomes if isinstance(o, ResourceExhausted)]
    others = [o for o in outcomes if isinstance(o, BaseException)
              and not isinstance(o, ResourceExhausted)]
    assert others == []
    assert refusals, "the tenant's send rate was never enforced"
    refused = refusals[0]
    assert refused.error_id == "rate-limited-sms"
    assert float(refused.details["retry_after_s"]) > 0


def _node_dir(host: str, port: int) -> Path:
    layout = ClusterLayout.load(DEFAULT_DIR)
    for node in layout.nodes if layout is not None else []:
        if node.address == host and node.native_port == port:
            return node.node_dir
    pytest.fail(f"the raw scan reads the node's files: no local node at {host}:{port}",
                pytrace=False)


async def test_raw_store_holds_no_body(world: World, cassandra_address: tuple[str, int]) -> None:
    """A body sent through the API is on no SSTable or commit log segment in plaintext; a
    control value written in plaintext on purpose is found (the scan reads what matters)."""
    from fabric.storage.cassandra_session import connect_sync

    w = world
    storage = w.fabric.settings.storage
    keyspace = storage.keyspace
    node_dir = _node_dir(*cassandra_address)
    tables = ["actor_state", "content_chunks", "content_objects", "mdr_by_tenant_day_v2"]
    conn = connect_sync(storage, use_keyspace=False)
    marker = "SMS-BODY-MARKER-" + uuid.uuid4().hex
    control = b"SMS-CONTROL-" + uuid.uuid4().hex.encode()
    try:
        for table in tables:
            conn.session.execute(
                f"ALTER TABLE {keyspace}.{table} WITH {SCAN_TABLE_OPTIONS}"
            )
        sent = await w.a.send(w.a1, w.b1, marker)
        assert (await w.b.history(w.b1, w.a1, page_size=1)).messages[0].body == marker
        conn.session.execute(
            f"INSERT INTO {keyspace}.content_chunks (key_id, chunk_no, data) VALUES (%s, 0, %s)",
            (f"control-{sent.message_id}", control),
        )
        ks_dir = node_dir / "data" / keyspace

        def data_files() -> list[Path]:
            return [p for d in ks_dir.glob("*-*") if d.name.split("-")[0] in tables
                    for p in d.glob("*-Data.db")]

        def flushed() -> bool:
            data = read_all(data_files)
            named = {p.parent.name.split("-")[0] for p in data}
            return named >= set(tables) and any(
                control in raw for p, raw in data.items()
                if p.parent.name.startswith("content_chunks-")
            )

        await eventually(flushed, 90, 0.5, what="memtables flushed with the control value")

        def our_files() -> list[Path]:
            return [p for p in ks_dir.rglob("*") if p.is_file()]

        def all_files() -> list[Path]:
            return our_files() + [p for p in (node_dir / "commitlog").rglob("*") if p.is_file()]

        raws = read_all(all_files)
        assert any(control in raw for raw in raws.values())
        needles = [marker.encode(), marker.encode("utf-16-le")]
        leaks = [p.name for p, raw in raws.items() if any(n in raw for n in needles)]
        assert leaks == []
        # nor the numbers, in this keyspace's tables (conversation keys name no number; the
        # commit log is shared with other keyspaces, whose tests reuse the pool's numbers)
        numbers = [w.a1.encode(), w.b1.encode()]
        ours = read_all(our_files)
        assert [p.name for p, raw in ours.items() if any(n in raw for n in numbers)] == []
    finally:
        for table in tables:
            conn.session.execute(
                f"ALTER TABLE {keyspace}.{table} WITH memtable_flush_period_in_ms = 0"
            )
        conn.shutdown()


async def test_client_close(world: World) -> None:
    """Last: close the module's phone and clients."""
    for item in _KEEP:
        if isinstance(item, Softphone):
            await item.close()
        elif isinstance(item, FabricClient):
            await item.close()

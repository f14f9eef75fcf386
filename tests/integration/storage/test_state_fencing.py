"""One writer per actor on Cassandra without a compare-and-set per write (claims and fences).

Two activations of one actor run at once on two in-process systems, each with its own
Cassandra session as two host processes have; the test holds one activation's turn between
its change and its save while the other activates and writes. The newer activation's state
is the one kept, the stale one deactivates, and nothing acknowledged is lost (the newer one
claims once the older one's lease lapses). The reminders a turn changes go in the same
write as its state.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

from fabric.actor import ActorAddress, VirtualActor
from fabric.config import StorageSettings
from fabric.errors import FailedPrecondition
from fabric.storage.cassandra_actor import (
    CassandraReminderStore,
    CassandraStateStore,
    write_timestamp,
)
from fabric.systems import LocalActorSystem

pytestmark = pytest.mark.cassandra

GATES: dict[str, asyncio.Event] = {}
REACHED: dict[str, asyncio.Event] = {}


class Ledger(VirtualActor):
    """Appends each entry it is sent to its saved list; an entry with a gate waits on it
    after changing the list and before saving it. ``remind:<s>`` sets a reminder, ``quiet``
    cancels it, both with the save."""

    kind = "ledger"

    async def on_activate(self) -> None:
        state = await self.ctx.load_state(StringValue)
        self.entries = [e for e in (state.value if state else "").split(",") if e]

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        assert isinstance(message, StringValue)
        entry = message.value
        if entry.startswith("remind:"):
            await self.ctx.set_reminder("tick", float(entry.split(":")[1]))
        elif entry == "quiet":
            await self.ctx.cancel_reminder("tick")
        self.entries.append(entry)
        if entry in GATES:
            REACHED[entry].set()
            await GATES[entry].wait()
        await self.ctx.save_state(StringValue(value=",".join(self.entries)))
        return StringValue(value=",".join(self.entries))


LEASE_S = 2.0  # short leases: the newer activation waits for the older one's to lapse


async def _system(settings: StorageSettings) -> LocalActorSystem:
    state = await CassandraStateStore.open(settings, lease_s=LEASE_S)
    reminders = await CassandraReminderStore.open(settings)
    return await LocalActorSystem(
        [Ledger], state_store=state, reminder_store=reminders, background=False
    ).start()


@pytest.fixture()
async def two_hosts(cassandra_settings: StorageSettings) -> AsyncIterator[
    tuple[LocalActorSystem, LocalActorSystem]
]:
    a, b = await _system(cassandra_settings), await _system(cassandra_settings)
    yield a, b
    for system in (a, b):
        await system.stop()
        await system.state_store.close()
        await system.reminder_store.close()


async def _send(system: LocalActorSystem, key: str, entry: str) -> str:
    reply = await system.ref(ActorAddress(Ledger.kind, key)).ask(
        StringValue(value=entry), reply=StringValue, timeout=30
    )
    return reply.value


async def _stored(system: LocalActorSystem, key: str) -> str:
    stored = await system.state_store.load(Ledger.kind, key)
    assert stored is not None
    value = StringValue()
    value.ParseFromString(stored.data)
    return value.value


async def test_racing_activations_the_newer_wins_the_stale_one_stops(two_hosts):
    a, b = two_hosts
    key = uuid.uuid4().hex
    address = ActorAddress(Ledger.kind, key)
    assert await _send(a, key, "a1") == "a1"

    GATES["a2"], REACHED["a2"] = asyncio.Event(), asyncio.Event()
    stale_turn = asyncio.create_task(_send(a, key, "a2"))
    await asyncio.wait_for(REACHED["a2"].wait(), 30)  # A changed its list, has not saved
    # meanwhile a second activation (another host took the actor over) claims and writes
    assert await _send(b, key, "b1") == "a1,b1"
    GATES["a2"].set()  # A's save now happens, under its older claim
    with pytest.raises(FailedPrecondition) as info:
        await stale_turn
    assert info.value.error_id == "state-claim-lost"
    await a.host.idle()
    assert not a.host.is_resident(address), "the stale activation must deactivate"

    assert await _send(b, key, "b2") == "a1,b1,b2"
    assert await _stored(b, key) == "a1,b1,b2"  # the newer one's; a1 (acknowledged) kept

    # the old host gets the actor back: it claims anew, and B becomes the stale one
    assert await _send(a, key, "a3") == "a1,b1,b2,a3"
    with pytest.raises(FailedPrecondition):
        await _send(b, key, "b3")
    await b.host.idle()
    assert not b.host.is_resident(address)
    assert await _stored(a, key) == "a1,b1,b2,a3"


async def test_a_stale_write_landing_last_does_not_overwrite(cassandra_settings):
    old_store = await CassandraStateStore.open(cassandra_settings, lease_s=LEASE_S)
    new_store = await CassandraStateStore.open(cassandra_settings, lease_s=LEASE_S)
    key = uuid.uuid4().hex
    try:
        old = await old_store.claim("ledger", key)
        assert await old_store.write(old, b"old-1") == 1
        new = await new_store.claim("ledger", key)
        assert new.epoch > old.epoch
        new.version = (await new_store.load("ledger", key)).version  # type: ignore[union-attr]
        assert await new_store.write(new, b"new-2") == 2
        # the stale activation's write arrives after the newer one's: it loses, and says so
        with pytest.raises(FailedPrecondition):
            await old_store.write(old, b"old-late")
        assert write_timestamp(old) < write_timestamp(new) + 1  # older claim, older stamps
        stored = await new_store.load("ledger", key)
        assert stored is not None and stored.data == b"new-2" and stored.version == 2
        # forgetting is fenced the same way: the stale one cannot delete the newer state
        with pytest.raises(FailedPrecondition):
            await old_store.write(old, None)
        assert (await new_store.load("ledger", key)) is not None
        assert await new_store.write(new, None) == 0
        assert await new_store.load("ledger", key) is None
    finally:
        await old_store.close()
        await new_store.close()


async def test_reminders_change_with_the_state_in_one_write(two_hosts):
    a, _ = two_hosts
    key = uuid.uuid4().hex
    store = a.state_store
    assert isinstance(store, CassandraStateStore)
    await _send(a, key, "remind:600")
    dues = await store.reminders_of(Ledger.kind, key)
    assert set(dues) == {"tick"} and dues["tick"] > time.time() + 500
    await _send(a, key, "remind:1")  # moved: the old row goes, the new one is due
    found = await a.reminder_store.due(time.time() + 5)
    assert [r.name for r in found if r.key == key] == ["tick"]
    await _send(a, key, "quiet")
    assert await store.reminders_of(Ledger.kind, key) == {}
    assert [r for r in await a.reminder_store.due(time.time() + 5) if r.key == key] == []
    assert await _stored(a, key) == "remind:600,remind:1,quiet"

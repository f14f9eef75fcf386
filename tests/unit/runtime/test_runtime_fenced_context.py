"""The runtime on a fenced state store (as on Cassandra): one claim per activation, a turn's
reminder changes written with its state save (or once at the end of the turn), nothing of
a failed turn written, and a stale activation stopped. In-memory fake of the interface."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

from fabric.actor import ActorAddress, VirtualActor
from fabric.errors import FailedPrecondition
from fabric.storage.base import (
    Fence,
    FencedStateStore,
    Reminder,
    ReminderChange,
    StoredState,
)
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock, eventually


class FakeFencedStore:
    """Claims, fenced writes and reminders in dicts; every write recorded."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredState] = {}
        self.epochs: dict[tuple[str, str], int] = {}
        self.dues: dict[tuple[str, str, str], float] = {}
        self.writes: list[tuple[str, bytes | None, tuple[ReminderChange, ...]]] = []
        self.claims = 0
        self.released: list[int] = []

    async def claim(self, kind: str, key: str) -> Fence:
        self.claims += 1
        epoch = self.epochs.get((kind, key), 0) + 1
        self.epochs[(kind, key)] = epoch
        return Fence(kind, key, epoch)

    async def load(self, kind: str, key: str) -> StoredState | None:
        return self.rows.get((kind, key))

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        if self.epochs[(fence.kind, fence.key)] != fence.epoch:
            raise FailedPrecondition("newer claim", error_id="state-claim-lost")
        self.writes.append(("state", data, reminders))
        self._apply(fence.kind, fence.key, reminders)
        version = 0 if data is None else fence.version + 1
        if data is None:
            self.rows.pop((fence.kind, fence.key), None)
        else:
            self.rows[(fence.kind, fence.key)] = StoredState(data, version)
        fence.version = version
        return version

    async def change_reminders(
        self, kind: str, key: str, reminders: tuple[ReminderChange, ...]
    ) -> None:
        self.writes.append(("reminders", None, reminders))
        self._apply(kind, key, reminders)

    def _apply(self, kind: str, key: str, reminders: tuple[ReminderChange, ...]) -> None:
        for change in reminders:
            assert self.dues.get((kind, key, change.name)) == change.previous
            if change.due is None:
                del self.dues[(kind, key, change.name)]
            else:
                self.dues[(kind, key, change.name)] = change.due

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        return {n: d for (k, kk, n), d in self.dues.items() if (k, kk) == (kind, key)}

    async def release(self, fence: Fence) -> None:
        self.released.append(fence.epoch)

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        raise AssertionError("the runtime must not compare-and-set on a fenced store")

    async def delete(self, kind: str, key: str) -> None:
        raise AssertionError("the runtime must not delete on a fenced store")

    # the host scans and fires reminders through the ReminderStore side
    async def upsert(self, reminder: Reminder) -> None:
        raise AssertionError("reminders change through the fenced writes")

    async def cancel(self, kind: str, key: str, name: str) -> None:
        raise AssertionError("reminders change through the fenced writes")

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        found = [Reminder(k, kk, n, d) for (k, kk, n), d in self.dues.items() if d <= until]
        return sorted(found, key=lambda r: r.due)[:limit]

    async def close(self) -> None:
        pass


class Phone(VirtualActor):
    """``ring`` saves with a reminder; ``snooze`` only moves it; ``flip`` sets and cancels;
    ``fail`` sets one then raises; ``hangup`` cancels it and forgets the state; ``done`` does
    that as its last write (``and_deactivate``)."""

    kind = "phone"
    fired: list[str] = []

    async def on_activate(self) -> None:
        self.state = await self.ctx.load_state(StringValue)

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        assert isinstance(message, StringValue)
        op = message.value
        if op == "ring":
            await self.ctx.set_reminder("ring", 30)
            await self.ctx.save_state(StringValue(value="ringing"))
        elif op == "snooze":
            await self.ctx.set_reminder("ring", 60)
        elif op == "flip":
            await self.ctx.set_reminder("other", 5)
            await self.ctx.cancel_reminder("other")
        elif op == "fail":
            await self.ctx.set_reminder("other", 5)
            raise FailedPrecondition("no", error_id="test-no")
        elif op == "hangup":
            await self.ctx.cancel_reminder("ring")
            await self.ctx.clear_state()
        elif op == "done":
            await self.ctx.cancel_reminder("ring")
            await self.ctx.clear_state(and_deactivate=True)
        return None

    async def on_reminder(self, name: str) -> None:
        Phone.fired.append(name)


@pytest.fixture()
async def system():
    store = FakeFencedStore()
    assert isinstance(store, FencedStateStore)
    clock = ManualClock(1_000.0)
    system = await LocalActorSystem([Phone], state_store=store, reminder_store=store,
                                    clock=clock, background=False).start()
    yield system, store, clock
    await system.stop()


async def _op(system: LocalActorSystem, op: str, key: str = "p1") -> None:
    await system.ref(ActorAddress("phone", key)).ask(StringValue(value=op), timeout=5)


async def test_state_and_its_reminder_are_one_write_and_one_claim(system):
    sys_, store, _ = system
    await _op(sys_, "ring")
    assert store.claims == 1
    assert store.writes == [("state", b"\n\x07ringing",
                             (ReminderChange("ring", 1030.0, None),))]
    await _op(sys_, "snooze")  # no state save in the turn: its change is written at its end
    assert store.writes[-1] == ("reminders", None, (ReminderChange("ring", 1060.0, 1030.0),))
    await _op(sys_, "hangup")
    assert store.writes[-1] == ("state", None, (ReminderChange("ring", None, 1060.0),))
    assert store.claims == 1 and store.dues == {} and store.rows == {}


async def test_set_and_cancelled_in_one_turn_writes_nothing_and_a_failed_turn_neither(system):
    sys_, store, _ = system
    await _op(sys_, "flip")
    assert store.writes == []
    with pytest.raises(FailedPrecondition):
        await _op(sys_, "fail")
    assert store.writes == [] and store.dues == {}


async def test_a_fired_reminder_is_removed_through_the_fence(system):
    sys_, store, clock = system
    Phone.fired.clear()
    await _op(sys_, "ring")
    await clock.advance(31)
    assert await sys_.fire_due_reminders() == 1
    await sys_.host.idle()
    assert Phone.fired == ["ring"]
    assert store.dues == {}
    assert store.writes[-1] == ("reminders", None, (ReminderChange("ring", None, 1030.0),))


async def test_a_lookup_of_a_missing_actor_claims_nothing_and_state_left_is_released(system):
    sys_, store, _ = system
    await _op(sys_, "snooze", key="p2")  # no state: only a reminder, no claim
    assert store.claims == 0
    await _op(sys_, "ring", key="p3")
    await sys_.host.stop()
    assert store.claims == 1 and store.released == [1]  # p3 left state: its claim is freed


async def test_state_stored_between_load_and_first_write_stops_the_activation(system):
    sys_, store, _ = system
    await _op(sys_, "snooze", key="p4")  # activated, found nothing
    store.rows[("phone", "p4")] = StoredState(b"", 1)  # another activation created it
    with pytest.raises(FailedPrecondition) as info:
        await _op(sys_, "ring", key="p4")
    assert info.value.error_id == "state-version-conflict"
    await sys_.host.idle()
    assert not sys_.host.is_resident(ActorAddress("phone", "p4"))


async def test_a_stale_activation_stops_at_its_next_write(system):
    sys_, store, _ = system
    await _op(sys_, "ring")
    await store.claim("phone", "p1")  # another host's activation claimed the phone
    with pytest.raises(FailedPrecondition) as info:
        await _op(sys_, "ring")
    assert info.value.error_id == "state-claim-lost"
    await sys_.host.idle()
    assert not sys_.host.is_resident(ActorAddress("phone", "p1"))


class Tally(VirtualActor):
    """Counts what it is told; saves after each, pipelined (replies wait for the write)."""

    kind = "tally"
    pipelined_saves = True

    async def on_activate(self) -> None:
        state = await self.ctx.load_state(StringValue)
        self.seen = state.value.split(",") if state and state.value else []
        self.turns = 0

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        assert isinstance(message, StringValue)
        self.turns += 1
        self.seen.append(message.value)
        await self.ctx.save_state(StringValue(value=",".join(self.seen)))
        return StringValue(value=str(self.turns))


class SlowStore(FakeFencedStore):
    """Writes wait for ``gate``; ``fail`` makes the next write lose its claim."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.fail = False

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        await self.gate.wait()
        if self.fail:
            raise FailedPrecondition("newer claim", error_id="state-claim-lost")
        return await super().write(fence, data, reminders)


async def test_pipelined_saves_answer_after_the_group_commit_that_carries_them():
    store = SlowStore()
    system = await LocalActorSystem([Tally], state_store=store, reminder_store=store,
                                    background=False).start()
    ref = system.ref(ActorAddress("tally", "t1"))
    try:
        asks = [asyncio.ensure_future(ref.ask(StringValue(value=f"c{i}"), timeout=5))
                for i in range(5)]

        async def every_turn_ran() -> bool:
            act = system.host._table.get(ActorAddress("tally", "t1"))
            assert act is not None and act.actor is not None and act.actor.turns == 5  # type: ignore[attr-defined]
            return True
        await eventually(every_turn_ran, 5, 0.01, what="five turns before any write")
        assert not any(a.done() for a in asks), "no answer before the state is written"
        store.gate.set()
        replies = await asyncio.gather(*asks)
        assert [r.value for r in replies] == ["1", "2", "3", "4", "5"]  # type: ignore[attr-defined]
        assert 1 <= len(store.writes) <= 2  # group commits: never a write per turn
        stored = store.rows[("tally", "t1")].data
        assert stored == StringValue(value="c0,c1,c2,c3,c4").SerializeToString()
        store.fail = True
        with pytest.raises(FailedPrecondition):
            await ref.ask(StringValue(value="late"), timeout=5)
    finally:
        await system.stop()


class FreshClaimStore(FakeFencedStore):
    """Claims say ``fresh`` when none was on record; reads counted."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def claim(self, kind: str, key: str) -> Fence:
        fresh = (kind, key) not in self.epochs
        fence = await super().claim(kind, key)
        fence.fresh = fresh
        return fence

    async def load(self, kind: str, key: str) -> StoredState | None:
        self.reads += 1
        return await super().load(kind, key)

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        self.reads += 1
        return await super().reminders_of(kind, key)


class NewPhone(Phone):
    """A Phone whose activations expect a new key (as a call at its dial)."""

    kind = "newphone"

    async def on_activate(self) -> None:
        self.state = await self.ctx.load_state(StringValue, new=True)


async def test_a_new_key_is_claimed_first_and_read_only_when_claimed_before():
    store = FreshClaimStore()
    clock = ManualClock(1_000.0)
    sys_ = await LocalActorSystem([NewPhone], state_store=store, reminder_store=store,
                                  clock=clock, background=False).start()
    try:
        await sys_.ref(ActorAddress("newphone", "n1")).ask(StringValue(value="ring"), timeout=5)
        assert store.claims == 1 and store.reads == 0  # never claimed: no state, no reminders
        assert store.writes == [("state", b"\n\x07ringing",
                                 (ReminderChange("ring", 1030.0, None),))]
        store.epochs[("newphone", "n2")] = 7  # claimed before (and written): read under ours
        store.rows[("newphone", "n2")] = StoredState(b"\n\x03old", 3)
        store.dues[("newphone", "n2", "ring")] = 1010.0
        await sys_.ref(ActorAddress("newphone", "n2")).ask(StringValue(value="ring"), timeout=5)
        assert store.claims == 2 and store.reads == 2
        assert store.writes[-1] == ("state", b"\n\x07ringing",
                                    (ReminderChange("ring", 1030.0, 1010.0),))
        assert store.rows[("newphone", "n2")].version == 4
    finally:
        await sys_.stop()


async def _turns(n: int = 50) -> None:
    """Let the loop run ``n`` iterations (no wall-clock wait)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_last_delete_answers_first_and_the_deactivation_waits_for_it():
    store = SlowStore()
    store.gate.set()
    system = await LocalActorSystem([Phone], state_store=store, reminder_store=store,
                                    background=False).start()
    phone = ActorAddress("phone", "p1")
    try:
        await _op(system, "ring")
        due = store.dues[("phone", "p1", "ring")]
        store.gate.clear()  # writes wait from now on
        await asyncio.wait_for(_op(system, "done"), 5)  # answered, its delete still waiting
        assert ("phone", "p1") in store.rows and system.host.is_resident(phone)
        later = asyncio.ensure_future(_op(system, "snooze"))  # queued behind the deactivation
        await _turns()
        assert not later.done()
        store.gate.set()
        await asyncio.wait_for(later, 5)
        # the delete carried the turn's reminder change, and it landed before the next
        # activation read the phone (which found no state: its snooze only set a reminder)
        assert store.writes[1] == ("state", None, (ReminderChange("ring", None, due),))
        assert store.rows == {} and store.writes[2][0] == "reminders"
        assert store.released == []  # nothing left behind: no claim to give up
    finally:
        store.gate.set()
        await system.stop()


async def test_a_failed_last_delete_leaves_the_state_and_frees_the_claim():
    store = SlowStore()
    store.gate.set()
    system = await LocalActorSystem([Phone], state_store=store, reminder_store=store,
                                    background=False).start()
    try:
        await _op(system, "ring")
        store.fail = True
        await asyncio.wait_for(_op(system, "done"), 5)  # the reply does not wait for it
        await system.host.idle()
        assert not system.host.is_resident(ActorAddress("phone", "p1"))
        assert ("phone", "p1") in store.rows  # a next activation finds the state
        assert store.released == [1]
    finally:
        await system.stop()

"""Placement + directory across several hosts in one process: ProcessRuntimes wired by fake
Ray handles (in-memory calls), in-memory stores, no Ray cluster."""

import asyncio
from typing import Any

import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import Int64Value
from ray.exceptions import RayError

from fabric._runtime.host import ActorHost
from fabric._runtime.process import ProcessRouter
from fabric._runtime.registry import HostInfo, View
from fabric.actor import ActorAddress, DeactivationReason, VirtualActor
from fabric.config import RuntimeSettings
from fabric.errors import ResourceExhausted, Unavailable
from fabric.storage.memory import MemoryReminderStore, MemoryStateStore
from fabric.testing import ManualClock, eventually
from fabric.wire.v1 import envelope_pb2 as wire_pb

LOG: list[tuple[str, str, str]] = []  # (event, host, key)


class Account(VirtualActor):
    kind = "acct"

    async def on_activate(self) -> None:
        state = await self.ctx.load_state(Int64Value)
        self.total = state.value if state else 0
        LOG.append(("activate", current_host(self), self.ctx.address.key))

    async def on_deactivate(self, reason: DeactivationReason) -> None:
        LOG.append((reason.value, current_host(self), self.ctx.address.key))

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        if isinstance(message, Int64Value):
            if message.value < 0:
                LOG.append(("hold", current_host(self), self.ctx.address.key))
                await asyncio.sleep(3600)  # holds the turn
            self.total += message.value
            await self.ctx.save_state(Int64Value(value=self.total))
        return Int64Value(value=self.total)


def current_host(actor: VirtualActor) -> str:
    return actor.ctx._host.host_id  # type: ignore[attr-defined]


class _Method:
    def __init__(self, fabric: "Fabric", host_id: str, name: str) -> None:
        self.fabric, self.host_id, self.name = fabric, host_id, name

    def remote(self, *args: Any) -> Any:
        return self.fabric.call(self.host_id, self.name, *args)


class _Handle:
    def __init__(self, fabric: "Fabric", host_id: str) -> None:
        self.deliver = _Method(fabric, host_id, "deliver")
        self.poll_replies = _Method(fabric, host_id, "poll_replies")


class Fabric:
    """Several hosts in one event loop; ``dead`` hosts raise a Ray error like a lost node."""

    def __init__(self, host_ids: list[str], capacity: int = 1000, push: bool = False) -> None:
        self.push = push
        self.states, self.reminders = MemoryStateStore(), MemoryReminderStore()
        self.settings = RuntimeSettings(mailbox_capacity=capacity, ask_timeout_s=2)
        self.clock = ManualClock()
        self.runtimes: dict[str, ProcessRouter] = {}
        self.dead: set[str] = set()
        self.lookups: dict[str, int] = {}  # by-name handle lookups per host
        self.epoch = 0
        for h in host_ids:
            self.add(h)

    def add(self, host_id: str) -> ProcessRouter:
        host = ActorHost(host_id, {"acct": Account}, state_store=self.states,
                         reminder_store=self.reminders, clock=self.clock,
                         settings=self.settings)
        rt = ProcessRouter(host_id, settings=self.settings, handle=self.handle,
                            on_suspect=lambda _h: None, host=host, incarnation=f"{host_id}-1",
                            push_replies=self.push)
        self.runtimes[host_id] = rt
        return rt

    def handle(self, host_id: str) -> _Handle:
        self.lookups[host_id] = self.lookups.get(host_id, 0) + 1
        return _Handle(self, host_id)

    async def call(self, host_id: str, name: str, *args: Any) -> Any:
        await asyncio.sleep(0)
        if host_id in self.dead:
            raise RayError()
        rt = self.runtimes[host_id]
        if name == "deliver":
            return rt.deliver(*args)
        return await rt.replies.poll(args[0], min(args[1], 0.05))

    def view(self, hosts: list[str]) -> View:
        self.epoch += 1
        return View(self.epoch, {h: HostInfo("actor", "n", f"{h}-1") for h in hosts})

    def publish(self, hosts: list[str], to: list[str] | None = None) -> None:
        view = self.view(hosts)
        for h in to if to is not None else list(self.runtimes):
            self.runtimes[h].apply_view(view)

    def resident(self) -> dict[str, set[str]]:
        return {h: {a.key for a in rt.host.resident()}  # type: ignore[union-attr]
                for h, rt in self.runtimes.items() if h not in self.dead}


@pytest.fixture(autouse=True)
def _clear() -> None:
    LOG.clear()


def addr(key: str) -> ActorAddress:
    return ActorAddress("acct", key)


async def holding(keys: list[str]) -> None:
    """Wait until each key's actor holds its turn (a ``-1`` ask reached it)."""
    await eventually(lambda: {k for e, _, k in LOG if e == "hold"} >= set(keys),
                     what=f"{len(keys)} actors holding their turn")


async def test_each_actor_activates_once_on_its_owner() -> None:
    fabric = Fabric(["a", "b", "c"])
    fabric.publish(["a", "b", "c"])
    senders = list(fabric.runtimes.values())
    keys = [f"k{i}" for i in range(90)]
    await asyncio.gather(*(
        rt.ask(addr(k), Int64Value(value=1), None) for rt in senders for k in keys))
    resident = fabric.resident()
    for k in keys:
        owner = senders[0].owner(addr(k))
        assert [h for h, ks in resident.items() if k in ks] == [owner]
    assert sorted(k for e, _, k in LOG if e == "activate") == sorted(keys)
    assert all(len(ks) > 10 for ks in resident.values())
    for k in keys:
        assert (await senders[1].ask(addr(k), Empty(), None)).value == 3  # type: ignore[attr-defined]


async def test_membership_change_moves_actors_with_their_state() -> None:
    fabric = Fabric(["a", "b"])
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    keys = [f"m{i}" for i in range(60)]
    for k in keys:
        await a.ask(addr(k), Int64Value(value=5), None)
    fabric.add("c")
    fabric.publish(["a", "b", "c"])
    await asyncio.gather(*(rt.host.idle() for rt in fabric.runtimes.values()))  # type: ignore[union-attr]
    moved = [k for k in keys if a.owner(addr(k)) == "c"]
    assert moved
    assert {k for e, _, k in LOG if e == DeactivationReason.OWNERSHIP_MOVED.value} == set(moved)
    for k in keys:
        assert (await a.ask(addr(k), Empty(), None)).value == 5  # type: ignore[attr-defined]
    assert fabric.resident()["c"] == set(moved)


async def test_stale_sender_is_forwarded_to_the_owner() -> None:
    fabric = Fabric(["a", "b"])
    fabric.publish(["a", "b"])
    fabric.add("c")
    fabric.publish(["a", "b", "c"], to=["b", "c"])  # "a" has not heard of "c" yet
    a = fabric.runtimes["a"]
    new_view_owner = fabric.runtimes["b"].owner
    k = next(f"s{i}" for i in range(1000) if new_view_owner(addr(f"s{i}")) == "c"
             and a.owner(addr(f"s{i}")) == "b")
    assert (await a.ask(addr(k), Int64Value(value=7), None)).value == 7  # type: ignore[attr-defined]
    assert fabric.resident() == {"a": set(), "b": set(), "c": {k}}


async def test_dead_host_fails_waiting_asks_with_unavailable_then_recovers() -> None:
    fabric = Fabric(["a", "b"])
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    keys = [k for k in (f"d{i}" for i in range(200)) if a.owner(addr(k)) == "b"][:10]
    for k in keys:
        await a.ask(addr(k), Int64Value(value=2), None)
    stuck = [asyncio.ensure_future(a.ask(addr(k), Int64Value(value=-1), 30)) for k in keys]
    await holding(keys)
    fabric.dead.add("b")  # the node is lost
    outcomes = await asyncio.gather(*stuck, return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes
    with pytest.raises(Unavailable):
        await a.ask(addr(keys[0]), Empty(), None)
    fabric.publish(["a"], to=["a"])  # the registry dropped "b"
    for k in keys:
        assert (await a.ask(addr(k), Empty(), None)).value == 2  # type: ignore[attr-defined]
    assert fabric.resident()["a"] == set(keys)


async def test_full_remote_mailbox_answers_resource_exhausted() -> None:
    fabric = Fabric(["a", "b"], capacity=3)
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    k = next(k for k in (f"f{i}" for i in range(100)) if a.owner(addr(k)) == "b")
    blocker = asyncio.ensure_future(a.ask(addr(k), Int64Value(value=-1), 30))
    await holding([k])  # the mailbox is empty again, its 3 places free
    results = await asyncio.gather(*(a.tell(addr(k), Int64Value(value=1)) for _ in range(5)),
                                   return_exceptions=True)
    assert sum(1 for r in results if r is None) == 3
    assert sum(1 for r in results if isinstance(r, ResourceExhausted)) == 2
    blocker.cancel()


async def test_malformed_batch_is_dropped_and_counted() -> None:
    fabric = Fabric(["a"])
    fabric.publish(["a"])
    a = fabric.runtimes["a"]
    ack = wire_pb.BatchAck.FromString(a.deliver(b"\xff\xff\xff garbage"))
    assert a.dropped == 1
    assert not ack.rejections  # the whole batch was dropped, not envelope by envelope
    assert ack.incarnation == a.replies.incarnation
    assert not LOG  # nothing in it was delivered
    wire_pb.BatchAck.FromString(a.deliver(wire_pb.EnvelopeBatch().SerializeToString()))
    assert a.dropped == 1  # a well-formed batch is not counted


async def test_pushed_answers_reach_their_asks_across_hosts() -> None:
    fabric = Fabric(["a", "b", "c"], push=True)
    fabric.publish(["a", "b", "c"])
    keys = [f"p{i}" for i in range(60)]
    senders = list(fabric.runtimes.values())
    results = await asyncio.gather(*(
        rt.ask(addr(k), Int64Value(value=1), None) for rt in senders for k in keys))
    assert sorted(r.value for r in results) == sorted(  # type: ignore[attr-defined]
        list(range(1, 4)) * len(keys))
    for rt in senders:  # answers came pushed: nothing waits in any reply slot
        assert all(not s.replies for s in rt.replies._slots.values())


async def test_pushed_mode_dead_host_fails_waiting_asks_with_unavailable() -> None:
    fabric = Fabric(["a", "b"], push=True)
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    keys = [k for k in (f"q{i}" for i in range(200)) if a.owner(addr(k)) == "b"][:5]
    stuck = [asyncio.ensure_future(a.ask(addr(k), Int64Value(value=-1), 30)) for k in keys]
    await holding(keys)
    fabric.dead.add("b")
    outcomes = await asyncio.gather(*stuck, return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes


async def test_restarted_host_fails_asks_acknowledged_by_its_previous_life() -> None:
    fabric = Fabric(["a", "b"], push=True)
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    k = next(k for k in (f"r{i}" for i in range(200)) if a.owner(addr(k)) == "b")
    stuck = asyncio.ensure_future(a.ask(addr(k), Int64Value(value=-1), 30))
    await holding([k])  # acknowledged by b's first life
    fabric.epoch += 1  # the registry saw "b" answer with a new incarnation
    a.apply_view(View(fabric.epoch, {"a": HostInfo("actor", "n", "a-1"),
                                     "b": HostInfo("actor", "n", "b-2")}))
    with pytest.raises(Unavailable):
        await stuck


async def test_handles_are_looked_up_once_per_host_until_a_call_fails() -> None:
    fabric = Fabric(["a", "b"], push=True)
    fabric.publish(["a", "b"])
    a = fabric.runtimes["a"]
    keys = [k for k in (f"h{i}" for i in range(300)) if a.owner(addr(k)) == "b"][:20]
    for _ in range(3):
        await asyncio.gather(*(a.ask(addr(k), Int64Value(value=1), None) for k in keys))
    assert fabric.lookups.get("b") == 1
    fabric.dead.add("b")
    with pytest.raises(Unavailable):
        await a.ask(addr(keys[0]), Empty(), None)
    fabric.dead.discard("b")
    assert (await a.ask(addr(keys[0]), Empty(), None)).value == 3  # type: ignore[attr-defined]
    assert fabric.lookups["b"] == 2  # looked up again after the failure


async def test_tell_to_an_endpoint_elsewhere_is_posted_and_a_refusal_counted() -> None:
    fabric = Fabric(["a", "b"], push=True)
    fabric.publish(["a", "b"])
    a, b = fabric.runtimes["a"], fabric.runtimes["b"]
    endpoint = await b.open_endpoint()
    for i in range(3):
        await a.tell(endpoint.address, Int64Value(value=i))
    got = []
    async for msg in endpoint:
        got.append(msg.value)  # type: ignore[attr-defined]
        if len(got) == 3:
            break
    assert got == [0, 1, 2]  # in order
    endpoint.close()
    await a.tell(endpoint.address, Int64Value(value=9))  # closed: dropped, not raised
    await eventually(lambda: a.endpoint_drops, what="the refused tell counted")
    assert a.endpoint_drops == 1

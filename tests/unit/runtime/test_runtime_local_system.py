"""The runtime's behaviour on the in-process system: no Ray, in-memory stores, fake clock."""

import asyncio
from typing import Any

import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from fabric.actor import (
    ActorAddress,
    DeactivationReason,
    Directive,
    VirtualActor,
)
from fabric.config import RuntimeSettings
from fabric.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from fabric.storage.memory import MemoryReminderStore, MemoryStateStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock

EVENTS: list[tuple[str, str, Any]] = []


class Counter(VirtualActor):
    """Adds numbers; persists after each; answers the running total."""

    kind = "counter"

    async def on_activate(self) -> None:
        state = await self.ctx.load_state(Int64Value)
        self.total = state.value if state else 0
        EVENTS.append(("activate", self.ctx.address.key, self.total))

    async def on_deactivate(self, reason: DeactivationReason) -> None:
        EVENTS.append(("deactivate", self.ctx.address.key, reason))

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        if isinstance(message, StringValue):
            if message.value == "boom":
                raise RuntimeError("bug")
            if message.value == "nope":
                raise NotFound("no such thing", error_id="test-not-found")
            if message.value == "remind":
                await self.ctx.set_reminder("ring", 30)
                return None
            if message.value == "leave":
                self.ctx.deactivate_after_turn()
                return None
            if message.value == "self-ask":
                return await self.ctx.system.ref(self.ctx.address).ask(Empty(), timeout=0.05)
            if message.value == "slow":
                await asyncio.sleep(0.05)
                return None
        assert isinstance(message, Int64Value) or isinstance(message, Empty)
        if isinstance(message, Int64Value):
            self.total += message.value
            await self.ctx.save_state(Int64Value(value=self.total))
        return Int64Value(value=self.total)

    async def on_reminder(self, name: str) -> None:
        EVENTS.append(("reminder", self.ctx.address.key, name))


class Sequencer(VirtualActor):
    """Records (sender tag, seq) pairs in arrival order; checks overlap of turns."""

    kind = "seq"
    busy: set[str] = set()
    overlaps = 0
    seen: dict[str, list[tuple[int, int]]] = {}
    activations: dict[str, int] = {}

    async def on_activate(self) -> None:
        key = self.ctx.address.key
        Sequencer.activations[key] = Sequencer.activations.get(key, 0) + 1

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        key = self.ctx.address.key
        if key in Sequencer.busy:
            Sequencer.overlaps += 1
        Sequencer.busy.add(key)
        await asyncio.sleep(0)
        assert isinstance(message, Int64Value)
        Sequencer.seen.setdefault(key, []).append(divmod(message.value, 1_000_000))
        Sequencer.busy.discard(key)
        return None


class Restarter(VirtualActor):
    kind = "restarter"
    instances = 0

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        Restarter.instances += 1
        self.count = 0

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        self.count += 1
        if isinstance(message, StringValue):
            raise RuntimeError("poison")
        return Int64Value(value=self.count)

    def decide(self, exc: BaseException) -> Directive:
        return Directive.RESTART


class Service:
    def __init__(self) -> None:
        self.calls = 0


class UsesService(VirtualActor):
    kind = "svc"

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        svc = self.ctx.service(Service)
        svc.calls += 1
        if isinstance(message, StringValue):
            self.ctx.service(int)  # not configured
        return None


class Notifier(VirtualActor):
    kind = "notifier"

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        assert isinstance(message, StringValue)
        await self.ctx.system.ref(ActorAddress("_endpoint", message.value)).tell(
            StringValue(value="event")
        )
        return None


@pytest.fixture(autouse=True)
def _reset() -> None:
    EVENTS.clear()
    Sequencer.busy, Sequencer.overlaps, Sequencer.seen, Sequencer.activations = set(), 0, {}, {}
    Restarter.instances = 0


def make(clock: ManualClock | None = None, **kw: Any) -> LocalActorSystem:
    settings = RuntimeSettings(**kw.pop("settings", {}))
    return LocalActorSystem(
        [Counter, Sequencer, Restarter, UsesService, Notifier],
        clock=clock or ManualClock(), settings=settings, background=False, **kw,
    )


async def test_ask_tell_and_state_survive_host_loss() -> None:
    states, reminders = MemoryStateStore(), MemoryReminderStore()
    first = make(state_store=states, reminder_store=reminders)
    ref = first.ref(ActorAddress("counter", "a"))
    assert (await ref.ask(Int64Value(value=2))).value == 2  # type: ignore[attr-defined]
    await ref.tell(Int64Value(value=3))
    assert (await ref.ask(Empty())).value == 5  # type: ignore[attr-defined]
    # "host loss": drop the first system without a clean stop; a second one takes over
    second = make(state_store=states, reminder_store=reminders)
    ref2 = second.ref(ActorAddress("counter", "a"))
    assert (await ref2.ask(Empty())).value == 5  # type: ignore[attr-defined]
    assert ("activate", "a", 5) in EVENTS
    assert (await ref2.ask(Int64Value(value=10))).value == 15  # type: ignore[attr-defined]
    # the stale activation in the first system loses the CAS and deactivates itself
    with pytest.raises(FailedPrecondition):
        await ref.ask(Int64Value(value=1))
    await first.idle()
    assert not first.host.is_resident(ActorAddress("counter", "a"))
    await first.stop()
    await second.stop()


async def test_idle_passivation_and_reactivation_with_fake_clock() -> None:
    clock = ManualClock()
    system = make(clock, settings={"idle_passivation_s": 60})
    ref = system.ref(ActorAddress("counter", "p"))
    await ref.ask(Int64Value(value=7))
    await clock.advance(30)
    assert await system.passivate_idle() == 0
    await clock.advance(31)
    assert await system.passivate_idle() == 1
    await system.idle()
    assert ("deactivate", "p", DeactivationReason.IDLE) in EVENTS
    assert len(system.host) == 0
    assert (await ref.ask(Empty())).value == 7  # type: ignore[attr-defined]
    assert [e for e in EVENTS if e[0] == "activate"] == [("activate", "p", 0),
                                                         ("activate", "p", 7)]
    await system.stop()
    assert ("deactivate", "p", DeactivationReason.SHUTDOWN) in EVENTS


async def test_reminder_fires_after_passivation_and_host_loss() -> None:
    clock = ManualClock()
    reminders = MemoryReminderStore()
    first = make(clock, reminder_store=reminders)
    await first.ref(ActorAddress("counter", "r")).ask(StringValue(value="remind"))
    await first.stop()  # passivated; the reminder stays in the store
    second = make(clock, reminder_store=reminders)
    await clock.advance(29)
    assert await second.fire_due_reminders() == 0
    await clock.advance(2)
    assert await second.fire_due_reminders() == 1
    await second.idle()
    assert ("reminder", "r", "ring") in EVENTS
    assert len(reminders) == 0  # fired once, then removed
    assert await second.fire_due_reminders() == 0
    await second.stop()


async def test_reminder_loop_runs_on_the_clock() -> None:
    clock = ManualClock()
    system = LocalActorSystem([Counter], clock=clock,
                              settings=RuntimeSettings(reminder_poll_s=1.0))
    async with system:
        await system.ref(ActorAddress("counter", "x")).ask(StringValue(value="remind"))
        for _ in range(32):
            await clock.advance(1)
        await system.idle()
    assert ("reminder", "x", "ring") in EVENTS


async def test_fabric_error_resumes_and_answers_the_ask() -> None:
    system = make()
    ref = system.ref(ActorAddress("counter", "e"))
    await ref.ask(Int64Value(value=4))
    with pytest.raises(NotFound) as err:
        await ref.ask(StringValue(value="nope"))
    assert err.value.error_id == "test-not-found"
    assert (await ref.ask(Empty())).value == 4  # type: ignore[attr-defined]  # same instance
    assert [e[0] for e in EVENTS].count("activate") == 1


async def test_crash_restarts_from_stored_state() -> None:
    system = make()
    ref = system.ref(ActorAddress("counter", "c"))
    await ref.ask(Int64Value(value=4))
    with pytest.raises(Internal) as err:
        await ref.ask(StringValue(value="boom"))
    assert err.value.error_id == "actor-handler-failed"
    assert "bug" not in str(err.value)  # no handler detail leaks
    assert (await ref.ask(Empty())).value == 4  # type: ignore[attr-defined]
    assert ("deactivate", "c", DeactivationReason.RESTART) in EVENTS
    assert [e[0] for e in EVENTS].count("activate") == 2


async def test_restarts_are_bounded_then_stop() -> None:
    system = make(settings={"max_restarts": 2, "restart_window_s": 100})
    ref = system.ref(ActorAddress("restarter", "x"))
    for _ in range(3):
        with pytest.raises(Internal):
            await ref.ask(StringValue(value="poison"))
    await system.idle()
    # two restarts, then STOP: deactivated; the next message activates a fresh instance
    assert not system.host.is_resident(ActorAddress("restarter", "x"))
    assert (await ref.ask(Empty())).value == 1  # type: ignore[attr-defined]
    assert Restarter.instances == 4


async def test_full_mailbox_is_resource_exhausted_not_dropped() -> None:
    system = make(settings={"mailbox_capacity": 3})
    ref = system.ref(ActorAddress("counter", "m"))
    await ref.tell(StringValue(value="slow"))  # being handled, leaves the mailbox
    await asyncio.sleep(0)
    for _ in range(3):
        await ref.tell(Int64Value(value=1))
    with pytest.raises(ResourceExhausted):
        await ref.tell(Int64Value(value=1))
    await system.idle()
    assert (await ref.ask(Empty())).value == 3  # type: ignore[attr-defined]
    assert "fabric_actor_messages_rejected_total{host=\"local\"} 1.0" in system.metrics_text()


async def test_order_per_actor_and_single_activation_under_concurrency() -> None:
    system = make()
    keys = [str(i) for i in range(20)]

    async def sender(tag: int) -> None:
        for seq in range(50):
            for key in keys:
                await system.ref(ActorAddress("seq", key)).tell(
                    Int64Value(value=tag * 1_000_000 + seq))
            if seq % 7 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(sender(tag) for tag in range(5)))
    await system.idle()
    assert Sequencer.overlaps == 0
    assert Sequencer.activations == {key: 1 for key in keys}
    for key in keys:
        seen = Sequencer.seen[key]
        assert len(seen) == 250
        for tag in range(5):
            assert [s for t, s in seen if t == tag] == list(range(50))


async def test_self_ask_times_out_instead_of_hanging() -> None:
    system = make()
    with pytest.raises(DeadlineExceeded):
        await system.ref(ActorAddress("counter", "s")).ask(StringValue(value="self-ask"))


async def test_deactivate_after_turn() -> None:
    system = make()
    ref = system.ref(ActorAddress("counter", "d"))
    await ref.ask(StringValue(value="leave"))
    await system.idle()
    assert ("deactivate", "d", DeactivationReason.REQUESTED) in EVENTS
    assert len(system.host) == 0


async def test_bad_input_is_invalid_argument() -> None:
    system = make()
    with pytest.raises(InvalidArgument) as err:
        await system.ref(ActorAddress("nosuchkind", "1")).tell(Empty())
    assert err.value.error_id == "actor-unknown-kind"
    with pytest.raises(InvalidArgument):
        await system.ref(ActorAddress("counter", "1")).tell("not a protobuf")  # type: ignore[arg-type]


async def test_services_and_missing_service() -> None:
    svc = Service()
    system = make(services={Service: svc})
    ref = system.ref(ActorAddress("svc", "1"))
    await ref.ask(Empty())
    assert svc.calls == 1
    with pytest.raises(Internal) as err:
        await ref.ask(StringValue(value="x"))
    assert err.value.error_id == "actor-service-missing"


async def test_endpoint_receives_tells_from_actors() -> None:
    system = make()
    endpoint = await system.open_endpoint()
    assert endpoint.address.kind == "_endpoint"
    await system.ref(ActorAddress("notifier", "n")).ask(StringValue(value=endpoint.address.key))
    got = []
    async for msg in endpoint:
        got.append(msg)
        endpoint.close()
    assert got == [StringValue(value="event")]
    with pytest.raises(Unavailable):
        await system.ref(endpoint.address).tell(Empty())


async def test_metrics_label_host_only() -> None:
    system = make()
    await system.ref(ActorAddress("counter", "secret-key-123")).ask(Int64Value(value=1))
    text = system.metrics_text()
    assert "secret-key-123" not in text
    assert 'fabric_actor_activations_total{host="local"} 1.0' in text
    assert 'fabric_actor_messages_handled_total{host="local"} 1.0' in text
    assert "fabric_actor_handler_seconds_bucket" in text

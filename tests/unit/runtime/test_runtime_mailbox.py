import pytest
from google.protobuf.empty_pb2 import Empty

from fabric._runtime.mailbox import Item, Mailbox
from fabric._runtime.supervision import RestartBudget, bounded
from fabric.actor import ActorAddress, DeactivationReason, Directive
from fabric.errors import ResourceExhausted
from fabric.testing import ManualClock

A = ActorAddress("k", "1")


def test_mailbox_is_fifo_and_bounded() -> None:
    box = Mailbox(2)
    first, second = Item(Empty()), Item(Empty())
    box.put(first, A)
    box.put(second, A)
    with pytest.raises(ResourceExhausted) as err:
        box.put(Item(Empty()), A)
    assert err.value.error_id == "actor-mailbox-full"
    assert box.take() is first
    assert box.take() is second
    assert not box


def test_control_items_bypass_the_bound_and_can_jump_the_queue() -> None:
    box = Mailbox(1)
    box.put(Item(Empty()), A)
    stop = Item(None, stop=DeactivationReason.IDLE)
    box.put(stop, A)  # no error
    front = Item(None, stop=DeactivationReason.STOP)
    box.push_front(front)
    assert box.take() is front
    assert len(box.drain_all()) == 2
    assert len(box) == 0


async def test_restart_budget_turns_restart_into_stop() -> None:
    clock = ManualClock()
    budget = RestartBudget(clock, max_restarts=3, window_s=10)
    assert [bounded(Directive.RESTART, budget) for _ in range(4)] == [
        Directive.RESTART, Directive.RESTART, Directive.RESTART, Directive.STOP
    ]
    assert bounded(Directive.RESUME, budget) is Directive.RESUME
    await clock.advance(11)
    assert bounded(Directive.RESTART, budget) is Directive.RESTART

"""A call re-activates from its persisted state on a new host: an answered call goes on, a
ringing call still rings out, a CDR whose write failed is written on re-activation; always
exactly one CDR per call. "Host loss" here = stop one system, start another on the same
state and reminder stores (no Ray, no sockets)."""

from __future__ import annotations

from calls_harness import Fabric, FakeCdrStore

from actors.call import CallActor
from actors.call_index import ActiveCallIndex
from actors.call_metrics import CallMetrics
from actors.number import NumberDirectory
from actors.tenant import TenantActor
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.cdr import Disposition
from fabric.storage.base import CdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock


async def _successor(fabric: Fabric, cdrs: FakeCdrStore, clock: ManualClock) -> Fabric:
    await fabric.system.stop()
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
        state_store=fabric.system.state_store,
        reminder_store=fabric.system.reminder_store,
        services={CdrStore: cdrs, CallMetrics: CallMetrics()},
        clock=clock,
        background=False,
    )
    await system.start()
    return Fabric(system, clock, cdrs, CallMetrics())


async def test_calls_survive_the_loss_of_their_host(fabric: Fabric) -> None:
    t = await fabric.tenant()
    alice, bob = await t.user("A"), await t.user("B")
    await t.extension("101", alice)
    await t.extension("102", bob, ring_timeout_s=10)
    await t.phone(bob, "102")
    answered = await fabric.dial(alice, "101", ext="102")
    await fabric.op(
        bob,
        answered.call_id,
        answer=api_calls.AnswerRequest(call_id=answered.call_id, extension="102"),
    )
    ringing = await fabric.dial(alice, "101", ext="102")
    ending = await fabric.dial(alice, "101", ext="102")
    fabric.cdrs.down = True  # the third call ends while the CDR store is down
    await fabric.op(alice, ending.call_id, hangup=api_calls.CallRef(call_id=ending.call_id))
    assert fabric.cdrs.writes == 0

    cdrs = FakeCdrStore()  # the same rows would be rewritten; a fresh store counts writes
    after = await _successor(fabric, cdrs, fabric.clock)
    try:
        info = await after.op(
            alice, answered.call_id, get=api_calls.CallRef(call_id=answered.call_id)
        )
        assert info.state == api_calls.CALL_STATE_ANSWERED and info.answered_by == "102"
        await after.ring_out(11)  # the ringing call's reminder and the CDR retry fire
        assert cdrs.rows[ringing.call_id].disposition is Disposition.NO_ANSWER
        assert cdrs.rows[ending.call_id].hangup_cause == "caller-cancelled"
        await after.op(bob, answered.call_id, hangup=api_calls.CallRef(call_id=answered.call_id))
        await after.ring_out(30)
        assert cdrs.rows[answered.call_id].disposition is Disposition.ANSWERED
        assert cdrs.writes == 3 and len(cdrs.rows) == 3
    finally:
        await after.system.stop()

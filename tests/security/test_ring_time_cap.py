"""A call rings at most ``calls.max_ring_s`` in total: a 50-member in-order ring group at
120 s a step rings out after 5 minutes, not 100 (in-process actors on a manual clock)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "calls"))
from calls_harness import Fabric, FakeCdrStore  # noqa: E402

from actors.call import CallActor  # noqa: E402
from actors.call_index import ActiveCallIndex  # noqa: E402
from actors.call_metrics import CallMetrics  # noqa: E402
from actors.number import NumberDirectory  # noqa: E402
from actors.tenant import TenantActor  # noqa: E402
from fabric.api.v1 import calls_pb2 as api_calls  # noqa: E402
from fabric.api.v1 import tenant_pb2 as api_tenant  # noqa: E402
from fabric.config import CallSettings  # noqa: E402
from fabric.storage.base import CdrStore  # noqa: E402
from fabric.systems import LocalActorSystem  # noqa: E402
from fabric.testing import ManualClock  # noqa: E402

MEMBERS = 50
STEP_S = 120


@pytest.fixture
async def fabric() -> AsyncIterator[Fabric]:
    clock, cdrs, metrics = ManualClock(), FakeCdrStore(), CallMetrics()
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
        services={CdrStore: cdrs, CallMetrics: metrics,
                  CallSettings: CallSettings(max_ring_s=300)},
        clock=clock, background=False)
    await system.start()
    try:
        yield Fabric(system, clock, cdrs, metrics)
    finally:
        await system.stop()


async def test_a_long_in_order_ring_group_rings_out_at_the_cap(fabric: Fabric) -> None:
    t = await fabric.tenant()
    caller = await t.user("Caller")
    await t.extension("100", caller)
    members = [f"{200 + i}" for i in range(MEMBERS)]
    phones = []
    for ext in members:
        user = await t.user(f"U{ext}")
        await t.extension(ext, user)
        phones.append(await t.phone(user, ext))
    await t.admin(put_ring_group=api_tenant.PutRingGroupRequest(group=api_tenant.RingGroup(
        group_id="sales", extensions=members, strategy=api_tenant.RING_IN_ORDER,
        ring_timeout_s=STEP_S)))
    [number] = await t.numbers(1)
    await t.admin(route_number=api_tenant.RouteNumberRequest(
        route=api_tenant.NumberRoute(number=number, ring_group="sales")))
    info = await fabric.dial(caller, "100", number=number)
    assert list(info.ringing) == ["200"]
    await fabric.ring_out(STEP_S + 0.5)
    await fabric.ring_out(STEP_S + 0.5)
    await phones[2].expect(api_calls.CALL_EVENT_INCOMING)
    # 240 s rung: the third member gets the 60 s left of the 300 s cap, then it rings out
    await fabric.ring_out(60.5)
    cdr = fabric.cdrs.rows[info.call_id]  # the call ended: its CDR is written
    assert cdr.disposition.value == "no-answer"
    assert (cdr.end_time - cdr.start_time).total_seconds() <= 300 + 2
    assert phones[3].pending() == 0  # the fourth member never rang

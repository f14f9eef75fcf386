"""Fixtures for call-control unit tests (helpers live in calls_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from calls_harness import Fabric, FakeCdrStore

from actors.call import CallActor
from actors.call_index import ActiveCallIndex
from actors.call_metrics import CallMetrics
from actors.number import NumberDirectory
from actors.tenant import TenantActor
from fabric.storage.base import CdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock


@pytest.fixture
async def fabric() -> AsyncIterator[Fabric]:
    clock = ManualClock()
    cdrs = FakeCdrStore()
    metrics = CallMetrics()
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
        services={CdrStore: cdrs, CallMetrics: metrics},
        clock=clock,
        background=False,
    )
    await system.start()
    try:
        yield Fabric(system, clock, cdrs, metrics)
    finally:
        await system.stop()

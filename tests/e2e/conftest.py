"""Fixtures of the call-control e2e tests: a fabric on the session's local Ray cluster
(``ray_driver``), the gRPC API with TLS, and the real Cassandra CDR store (a fresh keyspace per
session); both from ``tests/conftest.py``.

One fabric per test module (each start costs seconds on 2 cores); tests in a module share
its event loop (``loop_scope="module"``) because the driver's runtime lives on it.
Helpers live in calls_e2e_harness.py (a unique module name: ``conftest`` is ambiguous).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from calls_e2e_harness import E2EFabric, start_fabric, stop_fabric


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def e2e(
    cassandra_settings: object, tmp_path_factory: pytest.TempPathFactory, ray_driver: Any
) -> AsyncIterator[E2EFabric]:
    """One fabric for the module, on the session's Ray cluster."""
    fabric, _ = await start_fabric(cassandra_settings, tmp_path_factory.mktemp("fabric-run"),
                                   ray_driver)
    try:
        yield fabric
    finally:
        await stop_fabric(fabric)

"""Three nodes (127.0.0.11-13, RF 3): CDR writes and state saves go on at QUORUM with one down.

Slow (three JVMs on a small machine, ~1 min), so it runs on its own private cluster and only
once: everything is checked in one test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

from fabric.config import StorageSettings
from fabric.storage.cassandra_session import aexecute
from fabric.storage.factory import open_stores
from fabric.storage.spool import SpoolingCdrStore
from fabric.testing import eventually

pytestmark = pytest.mark.cassandra


async def _wait_all_up(stores, expected: int, timeout: float = 90.0) -> None:
    cluster = stores._connection.cluster

    def all_up() -> bool:
        hosts = cluster.metadata.all_hosts()
        assert len(hosts) == expected and all(h.is_up for h in hosts), (
            f"driver sees {[(h, h.is_up) for h in hosts]}")
        return True

    await eventually(all_up, timeout, 0.2, what=f"the driver sees {expected} nodes up")


async def test_quorum_writes_continue_with_one_node_of_three_stopped(
    private_cassandra, make_cdr, tmp_path
):
    addresses = await asyncio.to_thread(private_cassandra.up, "127.0.0.11", 3)
    settings = StorageSettings(
        backend="cassandra",
        cassandra_hosts=addresses,
        keyspace="quorum3",
        replication_factor=3,
        consistency="QUORUM",
        spool_dir=tmp_path / "spool",
        **private_cassandra.client_settings(),
    )
    stores = await open_stores(settings)
    try:
        await _wait_all_up(stores, 3)
        assert isinstance(stores.cdr, SpoolingCdrStore)
        cdr_store = stores.cdr.inner  # no spool: a failed QUORUM write must surface here
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        day = datetime(2026, 8, 1, tzinfo=UTC)
        cdrs = [
            make_cdr(tenant_id=tenant, start_time=day + timedelta(seconds=i)) for i in range(200)
        ]
        for cdr in cdrs[:100]:
            await cdr_store.write(cdr)
        assert await stores.state.save("call", tenant, b"before", 0) == 1

        await asyncio.to_thread(private_cassandra.stop, 3)

        # the stop is real: a write at ALL cannot be served any more
        probe = SimpleStatement(
            "INSERT INTO cdr_tenant_days (tenant_id, day) VALUES (%s, %s)",
            consistency_level=ConsistencyLevel.ALL,
        )
        session = stores._connection.session
        with pytest.raises(Exception) as info:
            await aexecute(session, probe, ("probe", day.date()))
        assert "Unavailable" in type(info.value).__name__ or "NoHost" in type(info.value).__name__

        for cdr in cdrs[100:]:
            await cdr_store.write(cdr)  # QUORUM = 2 of 3: must succeed
        assert await stores.state.save("call", tenant, b"after", 1) == 2  # LWT at SERIAL too

        seen: list[str] = []
        token = ""
        while True:
            page = await cdr_store.query(
                tenant, day, day + timedelta(days=1), page_size=100, page_token=token
            )
            seen.extend(c.call_id for c in page.records)
            token = page.next_page_token
            if not token:
                break
        assert sorted(seen) == sorted(c.call_id for c in cdrs)
        stored = await stores.state.load("call", tenant)
        assert stored is not None and stored.data == b"after"
    finally:
        await stores.close()

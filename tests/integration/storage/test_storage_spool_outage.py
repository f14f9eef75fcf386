"""No CDR lost when Cassandra is down: stop the node in the middle of a run, start it again.

Runs on a private node (127.0.0.4) so the shared dev node other tests use is untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from fabric.config import StorageSettings
from fabric.storage.factory import open_stores
from fabric.storage.spool import SpoolingCdrStore

TOTAL = 300
STOP_AFTER = 100
RESTART_AT = 200


def _spooled() -> float:
    return REGISTRY.get_sample_value("fabric_cdr_writes_total", {"outcome": "spooled"}) or 0.0


async def test_no_cdr_lost_when_the_node_stops_mid_run(private_cassandra, make_cdr, tmp_path):
    (address,) = await asyncio.to_thread(private_cassandra.up, "127.0.0.4")
    settings = StorageSettings(
        backend="cassandra",
        cassandra_hosts=[address],
        keyspace="spool_outage",
        spool_dir=tmp_path / "spool",
        consistency="LOCAL_QUORUM",
        **private_cassandra.client_settings(),
    )
    stores = await open_stores(settings)
    assert isinstance(stores.cdr, SpoolingCdrStore)
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    day = datetime(2026, 7, 1, tzinfo=UTC)
    cdrs = [make_cdr(tenant_id=tenant, start_time=day + timedelta(seconds=i)) for i in range(TOTAL)]
    spooled_before = _spooled()
    node_stopped = asyncio.Event()
    restart = asyncio.Event()

    async def outage() -> None:
        await asyncio.to_thread(private_cassandra.stop, 1)
        node_stopped.set()
        await restart.wait()
        await asyncio.to_thread(private_cassandra.start, 1)

    outage_task: asyncio.Task[None] | None = None
    try:
        for i, cdr in enumerate(cdrs):
            if i == STOP_AFTER:
                outage_task = asyncio.create_task(outage())
                await node_stopped.wait()
            if i == RESTART_AT:
                restart.set()  # the node comes back while writes continue
            await stores.cdr.write(cdr)  # never raises: stored or spooled
            await asyncio.sleep(0.002)
        assert outage_task is not None
        await outage_task
        assert _spooled() > spooled_before, "the outage should have sent writes to the spool"
        await stores.cdr.flush(timeout=90)
        assert stores.cdr.depth == 0

        # every CDR is there exactly once: all pages, no duplicates, nothing missing
        seen: list[str] = []
        token = ""
        while True:
            page = await stores.cdr.query(
                tenant, day, day + timedelta(days=1), page_size=250, page_token=token
            )
            seen.extend(c.call_id for c in page.records)
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len(set(seen)) == TOTAL
        assert set(seen) == {c.call_id for c in cdrs}
        for cdr in cdrs[STOP_AFTER : STOP_AFTER + 5]:
            assert await stores.cdr.get(tenant, cdr.call_id) == cdr
    finally:
        restart.set()
        if outage_task is not None:
            await asyncio.gather(outage_task, return_exceptions=True)
        await stores.close()

"""The CDR spool against an in-memory fake store that can be taken down."""

from __future__ import annotations

from datetime import datetime

import pytest
from prometheus_client import REGISTRY

from fabric.cdr import Cdr
from fabric.errors import InvalidArgument, NotFound, Unavailable
from fabric.storage.base import CdrPage
from fabric.storage.spool import SpoolingCdrStore


class FakeCdrStore:
    """Idempotent by call id, like the real stores; ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.rows: dict[str, Cdr] = {}
        self.down = False
        self.write_calls = 0

    def _check(self) -> None:
        if self.down:
            raise Unavailable("fake store is down", error_id="cassandra-unavailable")

    async def write(self, cdr: Cdr) -> None:
        self.write_calls += 1
        self._check()
        cdr.validate()
        self.rows[cdr.call_id] = cdr

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        self._check()
        cdr = self.rows.get(call_id)
        if cdr is None or cdr.tenant_id != tenant_id:
            raise NotFound("absent", error_id="cdr-not-found")
        return cdr

    async def query(self, tenant_id: str, start: datetime, end: datetime, **_: object) -> CdrPage:
        self._check()
        return CdrPage([c for c in self.rows.values() if c.tenant_id == tenant_id], "")

    async def delete_tenant(self, tenant_id: str) -> int:
        self._check()
        gone = [k for k, c in self.rows.items() if c.tenant_id == tenant_id]
        for k in gone:
            del self.rows[k]
        return len(gone)

    async def close(self) -> None:
        pass


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("fabric_cdr_writes_total", {"outcome": outcome}) or 0.0


@pytest.fixture()
async def spool(tmp_path):
    inner = FakeCdrStore()
    store = await SpoolingCdrStore(inner, tmp_path, retry_min_s=0.01, retry_max_s=0.05).open()
    yield store
    await store.close()


async def test_write_goes_to_the_store_when_it_is_up(spool, make_cdr):
    before = _count("written")
    cdr = make_cdr()
    await spool.write(cdr)
    assert spool.inner.rows == {cdr.call_id: cdr}
    assert spool.depth == 0
    assert _count("written") == before + 1


async def test_writes_are_spooled_while_down_and_delivered_once_when_back(spool, make_cdr):
    spooled_before = _count("spooled")
    spool.inner.down = True
    cdrs = [make_cdr() for _ in range(10)]
    for cdr in cdrs:
        await spool.write(cdr)
    await spool.write(cdrs[0])  # a retry of the same CDR while down
    assert spool.depth == 10
    assert _count("spooled") == spooled_before + 11
    assert REGISTRY.get_sample_value("fabric_cdr_spool_depth") == 10
    assert await spool.get(cdrs[3].tenant_id, cdrs[3].call_id) == cdrs[3]  # found in the spool
    spool.inner.down = False
    await spool.flush(timeout=10)
    assert spool.depth == 0
    assert spool.inner.rows == {c.call_id: c for c in cdrs}
    assert REGISTRY.get_sample_value("fabric_cdr_spool_depth") == 0


async def test_invalid_cdr_is_refused_not_spooled(spool, make_cdr):
    spool.inner.down = True
    failed_before = _count("failed")
    with pytest.raises(InvalidArgument):
        await spool.write(make_cdr(to_number="not-a-number"))
    assert spool.depth == 0
    assert _count("failed") == failed_before + 1


async def test_spool_survives_a_restart_and_is_delivered_by_the_next_process(tmp_path, make_cdr):
    inner = FakeCdrStore()
    inner.down = True
    first = await SpoolingCdrStore(inner, tmp_path, retry_min_s=0.01).open()
    cdrs = [make_cdr() for _ in range(5)]
    for cdr in cdrs:
        await first.write(cdr)
    await first.close()
    assert inner.rows == {}

    fresh_inner = FakeCdrStore()
    second = await SpoolingCdrStore(fresh_inner, tmp_path, retry_min_s=0.01).open()
    try:
        assert second.depth == 5
        await second.flush(timeout=10)
        assert fresh_inner.rows == {c.call_id: c for c in cdrs}
    finally:
        await second.close()


async def test_delete_tenant_also_erases_spooled_records(spool, make_cdr):
    spool.inner.down = True
    await spool.write(make_cdr(tenant_id="gone"))
    await spool.write(make_cdr(tenant_id="kept"))
    spool.inner.down = False
    assert await spool.delete_tenant("gone") == 1
    await spool.flush(timeout=10)
    assert [c.tenant_id for c in spool.inner.rows.values()] == ["kept"]


async def test_flush_reports_a_store_that_stays_down(spool, make_cdr):
    spool.inner.down = True
    await spool.write(make_cdr())
    with pytest.raises(Unavailable) as info:
        await spool.flush(timeout=0.2)
    assert info.value.error_id == "cdr-spool-not-drained"


async def test_a_spooled_record_refused_later_is_set_aside_not_lost(tmp_path, make_cdr):
    import sqlite3

    inner = FakeCdrStore()
    inner.down = True
    store = await SpoolingCdrStore(inner, tmp_path, retry_min_s=0.01).open()
    good = make_cdr()
    await store.write(good)
    await store.write(make_cdr())
    await store.close()  # no delivery in flight while the row is damaged
    conn = sqlite3.connect(tmp_path / "cdr-spool.sqlite3")
    changed = conn.execute(
        "UPDATE spool SET record = '{not json' WHERE call_id != ?", (good.call_id,)
    ).rowcount
    assert changed == 1, conn.execute("SELECT call_id FROM spool").fetchall()
    conn.commit()
    conn.close()
    inner.down = False
    store = await SpoolingCdrStore(inner, tmp_path, retry_min_s=0.01).open()
    await store.flush(timeout=10)
    await store.close()
    assert list(inner.rows) == [good.call_id]
    conn = sqlite3.connect(tmp_path / "cdr-spool.sqlite3")
    assert conn.execute("SELECT count(*) FROM spool_rejected").fetchone()[0] == 1
    conn.close()


async def test_a_spooled_record_is_found_by_its_own_tenant_only(spool, make_cdr):
    spool.inner.down = True
    mine = make_cdr(tenant_id="tenant-a")
    await spool.write(mine)
    assert spool.depth == 1
    assert await spool.get("tenant-a", mine.call_id) == mine
    # another tenant asking for the same call id while the store is down: not from the spool
    with pytest.raises(Unavailable):
        await spool.get("tenant-b", mine.call_id)
    spool.inner.down = False
    await spool.flush(timeout=10)
    with pytest.raises(NotFound):
        await spool.get("tenant-b", mine.call_id)
    assert await spool.get("tenant-a", mine.call_id) == mine

"""CDR ingest into the local Cassandra node: our store vs the bare driver, same run.

Ours: ``open_stores`` (spool-wrapped Cassandra CDR store), ``CONCURRENCY`` coroutines each
awaiting ``write`` in a loop on uvloop. Baseline: the same rows (one UNLOGGED batch of the
two inserts per CDR, prepared statements built here, not by our code) sent with the
driver's own ``execute_concurrent`` at the same concurrency. Rounds alternate (ours,
baseline, ours, baseline) after a warm-up, so drift on a shared machine hits both alike.
While writes run, a reader pages a tenant's day (100 rows a page) through our store; its
p99 is reported for our rounds (the same reader also runs during baseline rounds, so both
sides carry the same read load).

Usage: python benchmarks/cdr_ingest.py [--host 127.0.0.1:9042] [--cdrs 10000] [--rounds 2]
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cassandra.concurrent import execute_concurrent  # noqa: E402
from cassandra.query import BatchStatement, BatchType  # noqa: E402

from cluster.cassandra import DEFAULT_DIR  # noqa: E402
from cluster.cassandra_security import client_settings  # noqa: E402
from fabric.cdr import Cdr, Direction, Disposition  # noqa: E402
from fabric.config import StorageSettings  # noqa: E402
from fabric.storage.cassandra_cdr import COLUMNS, record_values  # noqa: E402
from fabric.storage.cassandra_session import connect_sync  # noqa: E402
from fabric.storage.factory import open_stores  # noqa: E402
from fabric.storage.schema import apply_schema, drop_keyspace  # noqa: E402

CONCURRENCY = 128
DAY = datetime(2026, 9, 1, tzinfo=UTC)
TENANTS = 50


def make_cdrs(count: int, tenant_prefix: str) -> list[Cdr]:
    cdrs = []
    for i in range(count):
        start = DAY + timedelta(seconds=i % 86000, milliseconds=i % 1000)
        cdrs.append(
            Cdr(
                call_id=uuid.uuid4().hex,
                tenant_id=f"{tenant_prefix}-{i % TENANTS}",
                from_number="+14155550100",
                to_number=f"+4420718{i % 100000:05d}",
                direction=Direction.OUTBOUND,
                start_time=start,
                answer_time=start + timedelta(seconds=3),
                end_time=start + timedelta(seconds=63),
                duration_s=63,
                billable_s=60,
                disposition=Disposition.ANSWERED,
                hangup_cause="normal-clearing",
                packets_sent=3000,
                packets_received=2990,
                packets_lost=10,
                jitter_ms=2.5,
                node_ids=("node-1",),
            )
        )
    return cdrs


async def ours(store, cdrs: list[Cdr]) -> float:
    it = iter(cdrs)

    async def worker() -> None:
        for cdr in it:
            await store.write(cdr)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(cdrs) / (time.perf_counter() - began)


def bare(session, ins_day, ins_call, ins_days, cdrs: list[Cdr]) -> float:
    def statements():  # built while sending, as our store builds each batch on write
        for cdr in cdrs:
            day = cdr.start_time.date()
            start = cdr.start_time.replace(tzinfo=None)
            values = record_values(cdr)
            batch = BatchStatement(
                batch_type=BatchType.UNLOGGED, consistency_level=ins_day.consistency_level
            )
            batch.add(ins_day, [cdr.tenant_id, day, start, cdr.call_id, *values])
            batch.add(ins_call, [cdr.call_id, cdr.tenant_id, day, start, *values])
            yield batch, None

    # the tenant-day markers, as our store writes them once per tenant and day
    markers = {(c.tenant_id, c.start_time.date()) for c in cdrs}
    execute_concurrent(session, [(ins_days, m) for m in markers], concurrency=CONCURRENCY)
    began = time.perf_counter()
    results = execute_concurrent(
        session, statements(), concurrency=CONCURRENCY, raise_on_first_error=True
    )
    elapsed = time.perf_counter() - began
    assert all(r.success for r in results)
    return len(cdrs) / elapsed


async def reader(store, tenant: str, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        page = await store.query(tenant, DAY, DAY + timedelta(days=1), page_size=100)
        latencies.append(time.perf_counter() - began)
        assert len(page.records) == 100
        await asyncio.sleep(0.02)


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[98]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default=os.environ.get("FABRIC_TEST_CASSANDRA", "127.0.0.1:9042"))
    parser.add_argument("--cdrs", type=int, default=10000, help="CDRs per round and side")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    host, _, port = args.host.rpartition(":")
    keyspace = f"cdr_bench_{uuid.uuid4().hex[:8]}"

    tmp = TemporaryDirectory()
    settings = StorageSettings(
        backend="cassandra",
        cassandra_hosts=[host],
        cassandra_port=int(port),
        keyspace=keyspace,
        consistency="LOCAL_QUORUM",
        spool_dir=Path(tmp.name),
        **client_settings(DEFAULT_DIR),  # the launcher's role, password and CA
    )
    admin = connect_sync(settings, use_keyspace=False)
    apply_schema(admin.session, keyspace)
    stores = await open_stores(settings, apply_schema=False)
    inner = stores.cdr.inner
    session = inner._conn.session
    cl = inner._conn.consistency
    marks = ", ".join("?" * len(COLUMNS.split(",")))
    ins_day = session.prepare(
        f"INSERT INTO cdr_by_tenant_day (tenant_id, day, start_time, call_id, {COLUMNS}) "
        f"VALUES (?, ?, ?, ?, {marks})"
    )
    ins_call = session.prepare(
        f"INSERT INTO cdr_by_call (call_id, tenant_id, day, start_time, {COLUMNS}) "
        f"VALUES (?, ?, ?, ?, {marks})"
    )
    ins_days = session.prepare("INSERT INTO cdr_tenant_days (tenant_id, day) VALUES (?, ?)")
    for ps in (ins_day, ins_call, ins_days):
        ps.consistency_level = cl

    try:
        hot = "hot-tenant"
        for cdr in make_cdrs(400, hot):
            await stores.cdr.write(_retenant(cdr, hot))
        await ours(stores.cdr, make_cdrs(min(args.cdrs, 4000), "warm"))  # JIT warm-up
        await asyncio.to_thread(
            bare, session, ins_day, ins_call, ins_days, make_cdrs(2000, "warmb")
        )

        our_rates, bare_rates, our_lat, bare_lat = [], [], [], []
        for r in range(args.rounds):
            for side in ("ours", "bare"):
                cdrs = make_cdrs(args.cdrs, f"{side}{r}")
                stop = asyncio.Event()
                lat: list[float] = []
                read_task = asyncio.create_task(reader(stores.cdr, hot, stop, lat))
                if side == "ours":
                    our_rates.append(await ours(stores.cdr, cdrs))
                    our_lat += lat
                else:
                    bare_rates.append(
                        await asyncio.to_thread(bare, session, ins_day, ins_call, ins_days, cdrs)
                    )
                    bare_lat += lat
                stop.set()
                await read_task
                rate = (our_rates if side == "ours" else bare_rates)[-1]
                print(f"round {r} {side}: {rate:.0f} CDRs/s, {len(lat)} pages", file=sys.stderr)
        value = statistics.mean(our_rates)
        baseline = statistics.mean(bare_rates)
        result = {
            "bench": "cdr_ingest",
            "value": round(value, 1),
            "unit": "CDRs/s",
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 3),
            "page_p99_ms": round(p99(our_lat) * 1000, 2),
            "page_p99_ms_baseline_rounds": round(p99(bare_lat) * 1000, 2),
            "pages_read": len(our_lat),
            "concurrency": CONCURRENCY,
            "cdrs_per_round": args.cdrs,
            "rounds": args.rounds,
            "target_cdrs_per_s": 10000,
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2),  # other work on the box skews both
        }
    finally:
        await stores.close()
        drop_keyspace(admin.session, keyspace)
        admin.shutdown()
        tmp.cleanup()
    print(json.dumps(result))


def _retenant(cdr: Cdr, tenant: str) -> Cdr:
    from dataclasses import replace

    return replace(cdr, tenant_id=tenant)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())

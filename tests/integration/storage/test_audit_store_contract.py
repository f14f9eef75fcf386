"""One contract suite for the audit store on both backends (SQLite file, the test Cassandra
keyspace with migration 010): append and chain, pages newest first across month partitions
with filters, and verify catching an edit, a removal and a cut tail done on the raw rows.
Logs are isolated by random ids."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from fabric.audit.cassandra_store import CassandraAuditStore, month_of
from fabric.audit.chain import AuditWriter, verify_log
from fabric.audit.entry import AuditEntry
from fabric.audit.sqlite_store import SqliteAuditStore
from fabric.audit.store import AuditQuery, AuditStore
from fabric.config import StorageSettings
from fabric.storage.cassandra_session import CassandraConnection, connect_sync

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]
DAY_US = 86_400 * 1_000_000


@dataclass
class Harness:
    """The store and raw access to its rows (as someone with the disk would have)."""

    store: AuditStore
    path: Path
    conn: CassandraConnection | None

    def overwrite(self, e: AuditEntry) -> None:
        """Replace the stored body of ``e``'s row."""
        if self.conn is None:
            raw = sqlite3.connect(self.path)
            raw.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            raw.execute("UPDATE audit_log SET body = ? WHERE log_id = ? AND stream = ? AND seq = ?",
                        (e.to_json(), e.log_id, e.stream, e.seq))
            raw.commit()
            raw.close()
            return
        self.conn.session.execute(
            "UPDATE audit_log SET body = %s WHERE log_id = %s AND month = %s AND at_us = %s "
            "AND stream = %s AND seq = %s",
            (e.to_json(), e.log_id, month_of(e.at_us), e.at_us, e.stream, e.seq))

    def remove(self, e: AuditEntry) -> None:
        """Delete ``e``'s row."""
        if self.conn is None:
            raw = sqlite3.connect(self.path)
            raw.execute("DROP TRIGGER IF EXISTS audit_log_no_early_delete")
            raw.execute("DELETE FROM audit_log WHERE log_id = ? AND stream = ? AND seq = ?",
                        (e.log_id, e.stream, e.seq))
            raw.commit()
            raw.close()
            return
        self.conn.session.execute(
            "DELETE FROM audit_log WHERE log_id = %s AND month = %s AND at_us = %s "
            "AND stream = %s AND seq = %s",
            (e.log_id, month_of(e.at_us), e.at_us, e.stream, e.seq))


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "embedded":
        store = SqliteAuditStore(tmp_path / "audit.sqlite3")
        yield Harness(store, tmp_path / "audit.sqlite3", None)
        await store.close()
        return
    settings: StorageSettings = request.getfixturevalue("cassandra_settings")
    conn = connect_sync(settings)
    cstore = CassandraAuditStore(conn)
    await cstore.prepare()
    try:
        yield Harness(cstore, tmp_path, conn)
    finally:
        conn.shutdown()


def _entry(log_id: str, at_us: int, n: int) -> AuditEntry:
    return AuditEntry(log_id=log_id, stream="", seq=0, at_us=at_us,
                      principal="op-1" if n % 2 else "u-1", role="support" if n % 2 else "admin",
                      principal_tenant="", key_id="k1",
                      method="/fabric.api.v1.CarrierAdmin/GetTenant" if n % 2 else
                      "/fabric.api.v1.Records/GetCdr", action="read",
                      object_class="tenant" if n % 2 else "cdr", object_id=f"o-{n}",
                      peer="127.0.0.1:5000", outcome="OK", error_id="", prev_hash="")


async def _fill(store: AuditStore, log_id: str, n: int = 8) -> list[AuditEntry]:
    """``n`` entries, one a day ending now: they span two month partitions or more."""
    now = int(time.time() * 1e6)
    writer = AuditWriter(store)
    return [await writer.append(_entry(log_id, now - (n - i) * 5 * DAY_US, i)) for i in range(n)]


async def test_a_written_log_verifies_and_pages_newest_first(harness: Harness) -> None:
    log_id = f"t-{uuid.uuid4().hex[:12]}"
    written = await _fill(harness.store, log_id)
    assert len({month_of(e.at_us) for e in written}) >= 2
    verdict = await verify_log(harness.store, log_id, time.time())
    assert verdict.ok and verdict.entries == 8, verdict.problems
    got: list[AuditEntry] = []
    token = ""
    while True:
        page = await harness.store.query(log_id, AuditQuery(limit=3, page_token=token))
        got += page.entries
        token = page.next_page_token
        if not token:
            break
    assert got == list(reversed(written))
    support = await harness.store.query(log_id, AuditQuery(principal="op-1", method="GetTenant"))
    assert [e.seq for e in support.entries] == [8, 6, 4, 2]
    recent = await harness.store.query(log_id, AuditQuery(since_us=written[5].at_us))
    assert [e.seq for e in recent.entries] == [8, 7, 6]
    assert (await harness.store.query(f"t-{uuid.uuid4().hex[:12]}", AuditQuery())).entries == []


async def test_verify_catches_an_edit_a_removal_and_a_cut_tail(harness: Harness) -> None:
    log_id = f"t-{uuid.uuid4().hex[:12]}"
    written = await _fill(harness.store, log_id)
    harness.overwrite(replace(written[1], principal="someone-else"))
    harness.remove(written[4])
    harness.remove(written[7])
    problems = (await verify_log(harness.store, log_id, time.time())).problems
    assert any("seq 2: edited" in p for p in problems), problems
    assert any("entries 5-5 removed" in p for p in problems), problems
    assert any("entries 8-8 removed" in p for p in problems), problems

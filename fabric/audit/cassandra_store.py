"""The audit log in Cassandra (migration ``010_audit.cql``).

An append is one logged batch (the entry, its month, its stream's head), so the head never
names an entry that was not written. Listing walks the log's months newest first and reads
each month's partition through the driver's paging, filtering in Python (filters are for
people reading a log, not a hot path). Entries expire with the table's 7-year TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from cassandra.query import BatchStatement

from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditPage, AuditQuery, cursor_of, parse_cursor, sort_key
from fabric.storage.cassandra_session import CassandraConnection, run, unavailable

FETCH = 500


def month_of(at_us: int) -> str:
    """The partition month ('YYYY-MM', UTC) of a time in microseconds."""
    return datetime.fromtimestamp(at_us / 1e6, UTC).strftime("%Y-%m")


class CassandraAuditStore:
    """:class:`fabric.audit.store.AuditStore` on the shared Cassandra connection."""

    def __init__(self, conn: CassandraConnection) -> None:
        self._conn = conn
        self._ps: dict[str, Any] = {}

    async def prepare(self) -> None:
        """Prepare the statements (once, at open)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        session = self._conn.session
        for name, cql in {
            "insert": "INSERT INTO audit_log (log_id, month, at_us, stream, seq, body) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
            "month": "INSERT INTO audit_months (log_id, month) VALUES (?, ?)",
            "head": "INSERT INTO audit_heads (log_id, stream, seq, hash) VALUES (?, ?, ?, ?)",
            "heads": "SELECT stream, seq, hash FROM audit_heads WHERE log_id = ?",
            "months": "SELECT month FROM audit_months WHERE log_id = ?",
            "range": "SELECT body FROM audit_log WHERE log_id = ? AND month = ? "
                     "AND at_us >= ? AND at_us <= ?",
        }.items():
            ps = session.prepare(cql)
            ps.consistency_level = self._conn.consistency
            ps.is_idempotent = True
            self._ps[name] = ps

    async def append(self, entry: AuditEntry) -> None:
        """Write the entry, its month and its stream's head in one logged batch."""
        await self.append_many([entry])

    async def append_many(self, entries: list[AuditEntry]) -> None:
        """Write the entries, their months and their streams' heads in one logged batch."""
        batch = BatchStatement(consistency_level=self._conn.consistency)
        for entry in entries:
            month = month_of(entry.at_us)
            batch.add(self._ps["insert"], (entry.log_id, month, entry.at_us, entry.stream,
                                           entry.seq, entry.to_json()))
            batch.add(self._ps["month"], (entry.log_id, month))
            batch.add(self._ps["head"], (entry.log_id, entry.stream, entry.seq, entry.hash))
        await run(self._conn.session, batch)

    async def _months(self, log_id: str) -> list[str]:
        rows = await run(self._conn.session, self._ps["months"], (log_id,))
        return [r.month for r in rows or ()]

    def _scan(self, log_id: str, month: str, lo: int, hi: int) -> list[AuditEntry]:
        try:
            stmt = self._ps["range"].bind((log_id, month, lo, hi))
            stmt.fetch_size = FETCH
            return [AuditEntry.from_json(r.body) for r in self._conn.session.execute(stmt)]
        except Exception as exc:  # noqa: BLE001 - a driver error is the store being down
            raise unavailable(exc) from exc

    async def query(self, log_id: str, query: AuditQuery) -> AuditPage:
        """A page of the log, newest first."""
        q = query.checked()
        after = parse_cursor(q.page_token)
        until = q.until_us or int(time.time() * 1e6)
        if after is not None:
            until = min(until, after[0])
        lo_month, hi_month = month_of(q.since_us), month_of(until)
        found: list[AuditEntry] = []
        for month in await self._months(log_id):  # newest first
            if not lo_month <= month <= hi_month:
                continue
            rows = await asyncio.to_thread(self._scan, log_id, month, q.since_us, until)
            found += [e for e in rows if q.matches(e)
                      and (after is None or sort_key(e) < after)]
            if len(found) > q.limit:
                break
        found.sort(key=sort_key, reverse=True)
        page = found[:q.limit]
        return AuditPage(page, cursor_of(page[-1]) if len(found) > q.limit else "")

    async def entries(self, log_id: str) -> AsyncIterator[AuditEntry]:
        """Every entry, by stream then seq (a log is read whole, month by month)."""
        rows: list[AuditEntry] = []
        for month in await self._months(log_id):
            rows += await asyncio.to_thread(self._scan, log_id, month, 0, 2**62)
        for entry in sorted(rows, key=lambda e: (e.stream, e.seq)):
            yield entry

    async def heads(self, log_id: str) -> dict[str, tuple[int, str]]:
        """Each stream's last (seq, hash)."""
        rows = await run(self._conn.session, self._ps["heads"], (log_id,))
        return {r.stream: (r.seq, r.hash) for r in rows or ()}

    async def close(self) -> None:
        """The connection is the process's (closed with its stores)."""



"""The embedded CDR store: one SQLite file, same contract as the Cassandra store.

One row per call id (``call_id`` is the primary key, a retry upserts the same row); the
whole record is kept as JSON next to the columns queries filter on, and an index on
(tenant_id, start_ms DESC, call_id DESC) serves a tenant's newest-first pages. Records
older than the 7-year retention are purged when the store opens (Cassandra does it by TTL).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fabric.cdr import Cdr
from fabric.errors import NotFound
from fabric.storage.base import CdrPage
from fabric.storage.cdr_query import CdrQuery, build_query, check_call_id, check_tenant
from fabric.storage.sqlite_db import SqliteDb

RETENTION = timedelta(days=2557)  # 7 years, as the Cassandra TTL
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cdr (
    call_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cdr_by_tenant_time ON cdr (tenant_id, start_ms DESC, call_id DESC);
"""


def _ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


class SqliteCdrStore:
    """CDRs in ``<data_dir>/cdr.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteDb(path, _SCHEMA)

    async def open(self) -> SqliteCdrStore:
        """Create the file and purge records past retention."""
        cutoff = _ms(datetime.now(UTC) - RETENTION)
        await self._db.run(lambda c: c.execute("DELETE FROM cdr WHERE start_ms < ?", (cutoff,)))
        return self

    async def write(self, cdr: Cdr) -> None:
        """Validate, then upsert by call id (a retry leaves one row)."""
        cdr.validate()
        row = (
            cdr.call_id,
            cdr.tenant_id,
            _ms(cdr.start_time),
            cdr.from_number,
            cdr.to_number,
            json.dumps(cdr.to_dict(), separators=(",", ":")),
        )
        await self._db.run(
            lambda c: c.execute(
                "INSERT INTO cdr (call_id, tenant_id, start_ms, from_number, to_number, record) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET "
                "tenant_id = excluded.tenant_id, start_ms = excluded.start_ms, "
                "from_number = excluded.from_number, to_number = excluded.to_number, "
                "record = excluded.record",
                row,
            )
        )

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """One CDR of the tenant; ``NotFound`` when absent or another tenant's."""
        check_tenant(tenant_id)
        check_call_id(call_id)
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT record FROM cdr WHERE call_id = ? AND tenant_id = ?", (call_id, tenant_id)
            ).fetchone()
        )
        if row is None:
            raise NotFound("no CDR with this call_id for this tenant", error_id="cdr-not-found")
        return Cdr.from_dict(json.loads(row[0]))

    async def query(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        number: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> CdrPage:
        """A tenant's CDRs with ``start <= start_time < end``, newest first, paged."""
        q = build_query(tenant_id, start, end, number, page_size, page_token)
        rows = await self._db.run(lambda c: _select_page(c, q))
        records = [Cdr.from_dict(json.loads(r[0])) for r in rows[: q.page_size]]
        token = ""
        if len(rows) > q.page_size:
            last = records[-1]
            token = q.token_after(last.start_time, last.call_id)
        return CdrPage(records=records, next_page_token=token)

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase every CDR of the tenant; return how many were removed."""
        check_tenant(tenant_id)
        return await self._db.run(
            lambda c: c.execute("DELETE FROM cdr WHERE tenant_id = ?", (tenant_id,)).rowcount
        )

    async def close(self) -> None:
        """Close the file."""
        await self._db.close()


def _select_page(conn: sqlite3.Connection, q: CdrQuery) -> list[Any]:
    sql = ["SELECT record FROM cdr WHERE tenant_id = ? AND start_ms >= ? AND start_ms < ?"]
    args: list[Any] = [q.tenant_id, _ms(q.start), _ms(q.end)]
    if q.after is not None:
        after_ms = _ms(q.after[0])
        sql.append("AND (start_ms < ? OR (start_ms = ? AND call_id < ?))")
        args += [after_ms, after_ms, q.after[1]]
    if q.number is not None:
        sql.append("AND (from_number = ? OR to_number = ?)")
        args += [q.number, q.number]
    sql.append("ORDER BY start_ms DESC, call_id DESC LIMIT ?")
    args.append(q.page_size + 1)
    return conn.execute(" ".join(sql), args).fetchall()

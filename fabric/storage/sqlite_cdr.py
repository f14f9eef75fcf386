"""The embedded CDR store: one SQLite file, same contract as the Cassandra store.

One row per call id (``call_id`` is the primary key, a retry upserts the same row); the
whole record is kept as JSON next to the columns queries filter on, and an index on
(tenant_id, start_ms DESC, call_id DESC) serves a tenant's newest-first pages. Records
older than the 7-year retention are purged when the store opens (Cassandra does it by TTL).

With a vault (as ``open_stores`` always gives), the numbers are sealed
(:mod:`fabric.storage.cdr_seal`): ``from_number``/``to_number`` hold their blind indexes, the
JSON record holds empty numbers, and ``sealed_numbers`` the sealed pair. Without one
(benchmark baselines, old files) numbers are plain; rows of both kinds read back.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fabric.cdr import Cdr
from fabric.errors import FailedPrecondition, NotFound
from fabric.storage.base import CdrPage
from fabric.storage.cdr_query import CdrQuery, build_query, check_call_id, check_tenant
from fabric.storage.cdr_seal import CdrSealer
from fabric.storage.sqlite_db import SqliteDb
from fabric.vault.vault import Vault

RETENTION = timedelta(days=2557)  # 7 years, as the Cassandra TTL
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cdr (
    call_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    record TEXT NOT NULL,
    sealed_numbers BLOB
);
CREATE INDEX IF NOT EXISTS cdr_by_tenant_time ON cdr (tenant_id, start_ms DESC, call_id DESC);
"""


def _ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


class SqliteCdrStore:
    """CDRs in ``<data_dir>/cdr.sqlite3``."""

    def __init__(self, path: Path, *, vault: Vault | None = None) -> None:
        self._db = SqliteDb(path, _SCHEMA)
        self._sealer = CdrSealer(vault) if vault is not None else None

    async def open(self) -> SqliteCdrStore:
        """Create the file (adding ``sealed_numbers`` to an older one), purge records past
        retention."""
        cutoff = _ms(datetime.now(UTC) - RETENTION)

        def _open(c: sqlite3.Connection) -> None:
            columns = {r[1] for r in c.execute("PRAGMA table_info(cdr)")}
            if "sealed_numbers" not in columns:
                c.execute("ALTER TABLE cdr ADD COLUMN sealed_numbers BLOB")
            c.execute("DELETE FROM cdr WHERE start_ms < ?", (cutoff,))

        await self._db.run(_open)
        return self

    async def _decode(self, record: str, sealed: bytes | None) -> Cdr:
        cdr = Cdr.from_dict(json.loads(record))
        if sealed is None:
            return cdr
        if self._sealer is None:
            raise FailedPrecondition(
                "this CDR store has sealed records but was opened without the vault",
                error_id="cdr-store-needs-vault",
            )
        return await self._sealer.open(cdr, sealed)

    async def write(self, cdr: Cdr) -> None:
        """Validate, then upsert by call id (a retry leaves one row)."""
        cdr.validate()
        record = cdr.to_dict()
        sealed: bytes | None = None
        from_key, to_key = cdr.from_number, cdr.to_number
        if self._sealer is not None:
            numbers = await self._sealer.seal(cdr)
            from_key, to_key, sealed = numbers.from_index, numbers.to_index, numbers.sealed
            record["from_number"] = record["to_number"] = ""
        row = (
            cdr.call_id,
            cdr.tenant_id,
            _ms(cdr.start_time),
            from_key,
            to_key,
            json.dumps(record, separators=(",", ":")),
            sealed,
        )
        await self._db.run(
            lambda c: c.execute(
                "INSERT INTO cdr (call_id, tenant_id, start_ms, from_number, to_number, record, "
                "sealed_numbers) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE "
                "SET tenant_id = excluded.tenant_id, start_ms = excluded.start_ms, "
                "from_number = excluded.from_number, to_number = excluded.to_number, "
                "record = excluded.record, sealed_numbers = excluded.sealed_numbers",
                row,
            )
        )

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """One CDR of the tenant; ``NotFound`` when absent or another tenant's."""
        check_tenant(tenant_id)
        check_call_id(call_id)
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT record, sealed_numbers FROM cdr WHERE call_id = ? AND tenant_id = ?",
                (call_id, tenant_id),
            ).fetchone()
        )
        if row is None:
            raise NotFound("no CDR with this call_id for this tenant", error_id="cdr-not-found")
        return await self._decode(row[0], row[1])

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
        key = number
        if number is not None and self._sealer is not None:
            key = await self._sealer.index(tenant_id, number)
        rows = await self._db.run(lambda c: _select_page(c, q, key))
        records = [await self._decode(r[0], r[1]) for r in rows[: q.page_size]]
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


def _select_page(conn: sqlite3.Connection, q: CdrQuery, number_key: str | None) -> list[Any]:
    sql = [
        "SELECT record, sealed_numbers FROM cdr",
        "WHERE tenant_id = ? AND start_ms >= ? AND start_ms < ?",
    ]
    args: list[Any] = [q.tenant_id, _ms(q.start), _ms(q.end)]
    if q.after is not None:
        after_ms = _ms(q.after[0])
        sql.append("AND (start_ms < ? OR (start_ms = ? AND call_id < ?))")
        args += [after_ms, after_ms, q.after[1]]
    if number_key is not None:
        sql.append("AND (from_number = ? OR to_number = ?)")
        args += [number_key, number_key]
    sql.append("ORDER BY start_ms DESC, call_id DESC LIMIT ?")
    args.append(q.page_size + 1)
    return conn.execute(" ".join(sql), args).fetchall()

"""The Cassandra message detail record store (table ``mdr_by_tenant_day_v2``, migration 017).

Partition (tenant, UTC day of the message), newest first, 7-year TTL. A write is one
idempotent insert (a retry or a status change rewrites the row: the key is derived from the
record: time, message id and side, so a message between two numbers of one tenant keeps its
outbound and its inbound record). ``list`` reads the day partitions of the range newest
first until ``limit``, from this table and from migration 008's ``mdr_by_tenant_day`` (rows
written before 017, keyed without the side), one record per (message id, side).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra.query import PreparedStatement

from fabric.storage.cassandra_session import CassandraConnection, run
from fabric.storage.mdr import Mdr, MdrSealer
from fabric.vault.vault import Vault

MAX_DAYS_LISTED = 366


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


class CassandraMdrStore:
    """Message detail records in Cassandra (the connection is shared, not owned)."""

    def __init__(self, conn: CassandraConnection, *, vault: Vault) -> None:
        self._conn = conn
        self._sealer = MdrSealer(vault)
        self._ps: dict[str, PreparedStatement] = {}

    async def prepare(self) -> None:
        """Prepare the statements (in a thread: preparing blocks on the network)."""

        def _prepare() -> None:
            texts = {
                "ins": "INSERT INTO mdr_by_tenant_day_v2 (tenant_id, day, sent_at, message_id, "
                "direction, from_number, to_number, sealed_numbers, segments, encoding, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            }
            for name, table in (("day", "mdr_by_tenant_day_v2"), ("old", "mdr_by_tenant_day")):
                texts[name] = (
                    "SELECT message_id, sent_at, direction, sealed_numbers, segments, encoding, "
                    f"status FROM {table} WHERE tenant_id = ? AND day = ? AND sent_at >= ? "
                    "AND sent_at < ? LIMIT ?"
                )
            for name, text in texts.items():
                ps = self._conn.session.prepare(text)
                ps.consistency_level = self._conn.consistency
                ps.is_idempotent = True
                self._ps[name] = ps

        await asyncio.to_thread(_prepare)

    async def write(self, mdr: Mdr) -> None:
        """Validate, seal the numbers and insert (idempotent)."""
        mdr.validate()
        sealed = await self._sealer.seal(mdr)
        await run(
            self._conn.session,
            self._ps["ins"],
            [
                mdr.tenant_id, _day(mdr.sent_at_ms), _at(mdr.sent_at_ms), mdr.message_id,
                mdr.direction, sealed.from_index, sealed.to_index, sealed.sealed, mdr.segments,
                mdr.encoding, mdr.status,
            ],
        )

    async def list(
        self, tenant_id: str, since_ms: int, until_ms: int, limit: int = 100
    ) -> list[Mdr]:
        """A tenant's records in the range, newest first (at most a year of days read)."""
        out: list[Mdr] = []
        day = _day(max(since_ms, until_ms - 1))
        first = _day(since_ms)
        for _ in range(MAX_DAYS_LISTED):
            if day < first or len(out) >= limit:
                break
            args = [tenant_id, day, _at(since_ms), _at(until_ms), limit - len(out)]
            rows: list[Any] = []
            seen: set[tuple[str, str]] = set()
            for name in ("day", "old"):
                for row in await run(self._conn.session, self._ps[name], args):
                    if (row.message_id, row.direction) not in seen:
                        seen.add((row.message_id, row.direction))
                        rows.append(row)
            rows.sort(key=lambda r: (r.sent_at, r.message_id), reverse=True)
            for row in rows[: limit - len(out)]:
                at_ms = int(row.sent_at.replace(tzinfo=UTC).timestamp() * 1000)
                mdr = Mdr(tenant_id, row.message_id, row.direction, "", "", at_ms, row.segments,
                          row.encoding, row.status)
                out.append(await self._sealer.open(mdr, row.sealed_numbers))
            day -= timedelta(days=1)
        return out

    async def close(self) -> None:
        """Nothing to release (the connection belongs to the process's stores)."""

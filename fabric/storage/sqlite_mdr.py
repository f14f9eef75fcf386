"""The embedded message detail record store: ``mdr.sqlite3``, twin of migrations 008 and 017.

One row per (tenant, message id, side), upserted (a retry or a status change rewrites it;
a message between two numbers of one tenant keeps its outbound and its inbound record); the
numbers are blind indexes plus the sealed pair (:class:`fabric.storage.mdr.MdrSealer`).
Records older than the 7-year retention are purged when the store opens (Cassandra does it
by TTL).

Writes are group-committed: the records written while a transaction is being prepared or
is running (many conversations of the host at once) go into the next one, so a busy host
pays one commit for many records; each ``write`` still returns only once its record is
committed (or raises what the transaction raised).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fabric.errors import Unavailable
from fabric.storage.mdr import RETENTION_S, Mdr, MdrSealer
from fabric.storage.sqlite_db import SqliteDb
from fabric.vault.vault import Vault

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mdr_v2 (
    tenant_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    direction TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    sealed_numbers BLOB NOT NULL,
    segments INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (tenant_id, message_id, direction)
);
CREATE INDEX IF NOT EXISTS mdr_v2_by_tenant_time ON mdr_v2 (tenant_id, sent_at_ms DESC);
"""

_COLUMNS = ("tenant_id, message_id, sent_at_ms, direction, from_number, to_number, "
            "sealed_numbers, segments, encoding, status")


def _move_old_records(c: sqlite3.Connection) -> None:
    """Move the rows of the table keyed without the side (``mdr``, before ``mdr_v2``)."""
    if c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mdr'").fetchone():
        c.execute(f"INSERT OR IGNORE INTO mdr_v2 ({_COLUMNS}) SELECT {_COLUMNS} FROM mdr")
        c.execute("DROP TABLE mdr")


_UPSERT = (
    f"INSERT OR REPLACE INTO mdr_v2 ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)



def _upsert_all(rows: list[tuple[Any, ...]]) -> Callable[[sqlite3.Connection], Any]:
    return lambda c: c.executemany(_UPSERT, rows)


class SqliteMdrStore:
    """Message detail records in ``<data_dir>/mdr.sqlite3``."""

    def __init__(self, path: Path, *, vault: Vault) -> None:
        self._db = SqliteDb(path, _SCHEMA)
        self._sealer = MdrSealer(vault)
        self._queued: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> SqliteMdrStore:
        """Create the file, move records from the old table and purge those past retention."""
        cutoff = int((time.time() - RETENTION_S) * 1000)
        await self._db.run(_move_old_records)
        await self._db.run(
            lambda c: c.execute("DELETE FROM mdr_v2 WHERE sent_at_ms < ?", (cutoff,)))
        return self

    async def write(self, mdr: Mdr) -> None:
        """Validate, seal the numbers and upsert by (tenant, message id, side)."""
        mdr.validate()
        sealed = await self._sealer.seal(mdr)
        row = (
            mdr.tenant_id, mdr.message_id, mdr.sent_at_ms, mdr.direction, sealed.from_index,
            sealed.to_index, sealed.sealed, mdr.segments, mdr.encoding, mdr.status,
        )
        done = asyncio.get_running_loop().create_future()
        self._queued.append((row, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="mdr-group-commit")
        await done

    async def _flush(self) -> None:
        """Commit the queued records in one transaction, again while more are queued."""
        try:
            await asyncio.sleep(0)  # let the writers of this loop turn queue theirs too
            while self._queued:
                batch, self._queued = self._queued, []
                rows = [row for row, _ in batch]
                try:
                    await self._db.run(_upsert_all(rows))
                except Exception as exc:  # handed to every writer of the batch
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                except BaseException:
                    for _, done in batch:
                        done.cancel()
                    raise
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._flusher = None
            for _, done in self._queued:  # only if this task was cancelled: none is lost silently
                if not done.done():
                    done.set_exception(Unavailable("the record store closed before the write",
                                                   error_id="storage-unavailable"))
            self._queued = []

    async def list(
        self, tenant_id: str, since_ms: int, until_ms: int, limit: int = 100
    ) -> list[Mdr]:
        """A tenant's records in the range, newest first, numbers opened."""

        def _select(c: sqlite3.Connection) -> list[Any]:
            return c.execute(
                "SELECT message_id, sent_at_ms, direction, sealed_numbers, segments, encoding, "
                "status FROM mdr_v2 WHERE tenant_id = ? AND sent_at_ms >= ? AND sent_at_ms < ? "
                "ORDER BY sent_at_ms DESC LIMIT ?",
                (tenant_id, since_ms, until_ms, limit),
            ).fetchall()

        out = []
        for mid, at, direction, sealed, segments, encoding, status in await self._db.run(_select):
            mdr = Mdr(tenant_id, mid, direction, "", "", at, segments, encoding, status)
            out.append(await self._sealer.open(mdr, sealed))
        return out

    async def close(self) -> None:
        """Close the file (after the queued records are written)."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])
        await self._db.close()

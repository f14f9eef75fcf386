"""Content backend on Cassandra: ``content_objects`` rows and ``content_chunks`` partitions.

One partition per object in ``content_chunks``, keyed by the object's random data key id,
clustered by chunk number; chunks are 64 KB of plaintext (64 KB + 28 bytes sealed), well
inside Cassandra's comfort zone for cell size, and a 10-minute recording (~10 MB of audio)
stays a ~10 MB partition. Chunk writes go out with up to ``WRITE_WINDOW`` in flight; reads
page through the partition ``READ_PAGE`` chunks at a time. The object row is inserted with
a lightweight transaction after every chunk is acknowledged, so a reader never sees a row
whose chunks are not all there; a name is taken by one live object at a time
(``IF NOT EXISTS``, or ``IF deleted = true`` to reuse a deleted object's name).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.query import PreparedStatement

from fabric.storage.cassandra_session import CassandraConnection, run
from fabric.vault.content import ObjectRow

CHUNK_SIZE = 64 * 1024
WRITE_WINDOW = 8
READ_PAGE = 16
_COLS = (
    "tenant_id, data_class, object_id, key_id, size, chunk_count, chunk_size, created, "
    "sealed_meta, deleted"
)


def _row(r: Any) -> ObjectRow:
    return ObjectRow(
        r.tenant_id, r.data_class, r.object_id, r.key_id, int(r.size), int(r.chunk_count),
        int(r.chunk_size), float(r.created), bytes(r.sealed_meta or b""), bool(r.deleted),
    )


class _ChunkWriter:
    def __init__(self, backend: CassandraContentBackend, key_id: str) -> None:
        self._backend = backend
        self._key_id = key_id
        self._inflight: set[asyncio.Task[Any]] = set()

    async def write(self, chunk_no: int, nonce: bytes, ciphertext: bytes) -> None:
        while len(self._inflight) >= WRITE_WINDOW:
            done, self._inflight = await asyncio.wait(
                self._inflight, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
        params = [self._key_id, chunk_no, nonce + ciphertext]
        self._inflight.add(asyncio.ensure_future(self._backend.execute("put_chunk", params)))

    async def commit(self) -> None:
        pending, self._inflight = self._inflight, set()
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def abort(self) -> None:
        await asyncio.gather(*self._inflight, return_exceptions=True)
        self._inflight = set()
        await self._backend.drop_chunks(self._key_id)


class CassandraContentBackend:
    """Sealed chunks and object rows in Cassandra (migration 004)."""

    def __init__(self, conn: CassandraConnection, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size
        self._conn = conn
        self._ps: dict[str, PreparedStatement] = {}

    async def prepare(self) -> None:
        """Prepare every statement (in a thread)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        where = "WHERE tenant_id = ? AND data_class = ? AND object_id = ?"
        texts = {
            "object": f"SELECT {_COLS} FROM content_objects {where}",
            "insert": f"INSERT INTO content_objects ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "?, false) IF NOT EXISTS",
            "reuse": "UPDATE content_objects SET key_id = ?, size = ?, chunk_count = ?, "
            f"chunk_size = ?, created = ?, sealed_meta = ?, deleted = false {where} "
            "IF deleted = true",
            "mark_deleted": f"UPDATE content_objects SET deleted = true, sealed_meta = 0x {where} "
            "IF EXISTS",
            "list": f"SELECT {_COLS} FROM content_objects WHERE tenant_id = ? AND data_class = ?",
            "put_chunk": "INSERT INTO content_chunks (key_id, chunk_no, data) VALUES (?, ?, ?)",
            "chunks": "SELECT chunk_no, data FROM content_chunks WHERE key_id = ? "
            "AND chunk_no >= ? LIMIT ?",
            "drop_chunks": "DELETE FROM content_chunks WHERE key_id = ?",
        }
        for name, text in texts.items():
            ps = self._conn.session.prepare(text)
            ps.consistency_level = self._conn.consistency
            ps.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            ps.is_idempotent = name in ("object", "list", "put_chunk", "chunks", "drop_chunks")
            self._ps[name] = ps

    async def execute(self, name: str, params: list[Any]) -> list[Any]:
        """Run a prepared statement; driver errors become ``Unavailable``."""
        rows = await run(self._conn.session, self._ps[name], params)
        return [] if rows is None else list(rows)

    async def object(self, tenant_id: str, data_class: str, object_id: str) -> ObjectRow | None:
        """The object's row, or None."""
        rows = await self.execute("object", [tenant_id, data_class, object_id])
        return _row(rows[0]) if rows else None

    async def writer(self, key_id: str) -> _ChunkWriter:
        """A writer of the object's chunk partition."""
        return _ChunkWriter(self, key_id)

    async def put_object(self, row: ObjectRow) -> bool:
        """Insert the row (LWT), or reuse a deleted object's name; False if one is live."""
        r = row
        rows = await self.execute(
            "insert",
            [r.tenant_id, r.data_class, r.object_id, r.key_id, r.size, r.chunk_count,
             r.chunk_size, r.created, r.sealed_meta],
        )
        if rows[0].applied:
            return True
        rows = await self.execute(
            "reuse",
            [r.key_id, r.size, r.chunk_count, r.chunk_size, r.created, r.sealed_meta,
             r.tenant_id, r.data_class, r.object_id],
        )
        return bool(rows[0].applied)

    async def read_chunks(self, key_id: str, chunk_count: int) -> AsyncIterator[bytes]:
        """The sealed chunks in order, a page at a time; stops at the first gap."""
        next_no = 0
        while next_no < chunk_count:
            rows = await self.execute("chunks", [key_id, next_no, READ_PAGE])
            for r in rows:
                if r.chunk_no != next_no:
                    return
                yield bytes(r.data)
                next_no += 1
            if len(rows) < READ_PAGE:
                return

    async def mark_deleted(self, tenant_id: str, data_class: str, object_id: str) -> None:
        """Mark the row deleted and drop its sealed metadata."""
        await self.execute("mark_deleted", [tenant_id, data_class, object_id])

    async def drop_chunks(self, key_id: str) -> None:
        """Delete the object's chunk partition."""
        await self.execute("drop_chunks", [key_id])

    async def list_objects(self, tenant_id: str, data_class: str) -> list[ObjectRow]:
        """Live rows of a tenant and class, by object id (every page)."""

        def _fetch() -> list[Any]:
            return list(self._conn.session.execute(self._ps["list"], [tenant_id, data_class]))

        rows = await asyncio.to_thread(_fetch)
        return [o for o in (_row(r) for r in rows) if not o.deleted]

    async def close(self) -> None:
        """Nothing to close: the connection is shared."""

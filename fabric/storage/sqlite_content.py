"""Embedded content backend: object rows in ``content.sqlite3``, chunks in files.

Each object's sealed chunks go to one file, ``<data_dir>/content/<key id[:2]>/<key id>``,
as length-prefixed records (``>I`` length, then nonce, ciphertext and tag). The file name is
the object's random data key id, so no tenant, object id or other name reaches the file
system. A file is written aside (``.tmp``) and renamed into place on commit, then the object
row is inserted: a process crash leaves at worst an orphan temp file, never a row without
its chunks. By default the file is not fsynced, the durability of the rest of the embedded
store (SQLite ``synchronous = NORMAL``) and of Cassandra's periodic commit log: an OS crash
may lose the last seconds (a lost file then reads as ``vault-tampered``, never as garbage);
``durable=True`` fsyncs each object. Reads memory-map the file. Files are 0600 in 0700
folders. Why files and not BLOB rows: a 64 KB BLOB insert
costs SQLite far more than the AES-GCM of the same bytes, so rows would cap content
throughput (benchmarks/vault.py) well below the cipher.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import sqlite3
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fabric.storage.sqlite_db import SqliteDb
from fabric.vault.content import ObjectRow

DEFAULT_CHUNK_SIZE = 256 * 1024
_LEN = struct.Struct(">I")
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_object (
    tenant_id TEXT NOT NULL, data_class TEXT NOT NULL, object_id TEXT NOT NULL,
    key_id TEXT NOT NULL, size INTEGER NOT NULL, chunk_count INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL, created REAL NOT NULL, sealed_meta BLOB NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, data_class, object_id));
"""
_COLS = (
    "tenant_id, data_class, object_id, key_id, size, chunk_count, chunk_size, created, "
    "sealed_meta, deleted"
)


def _row(r: Any) -> ObjectRow:
    return ObjectRow(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]), float(r[7]),
                     bytes(r[8]), bool(r[9]))


_MADE: set[Path] = set()  # folders this process made (or found): no mkdir per object


def _private_dir(path: Path) -> None:
    if path not in _MADE:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _MADE.add(path)


class _FileWriter:
    def __init__(self, final: Path, durable: bool) -> None:
        _private_dir(final.parent)
        self._final = final
        self._tmp = final.with_suffix(".tmp")
        try:
            self._fd = os.open(self._tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        except FileNotFoundError:  # the folder was removed since: make it again
            _MADE.discard(final.parent)
            _private_dir(final.parent)
            self._fd = os.open(self._tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        self._durable = durable
        self._expected = 0

    async def write(self, chunk_no: int, nonce: bytes, ciphertext: bytes) -> None:
        if chunk_no != self._expected:
            raise ValueError("chunks must be written in order")
        self._expected += 1
        parts = [_LEN.pack(len(nonce) + len(ciphertext)), nonce, ciphertext]
        want = sum(len(p) for p in parts)
        done = os.writev(self._fd, parts)
        if done != want:  # a short write (rare, e.g. a signal): finish it plainly
            os.write(self._fd, b"".join(parts)[done:])

    async def commit(self) -> None:
        def _finish() -> None:
            if self._durable:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            os.replace(self._tmp, self._final)

        if self._durable:
            await asyncio.to_thread(_finish)
        else:  # a close and a rename: cheaper here than a hop to a thread
            _finish()

    async def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for path in (self._tmp, self._final):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


class SqliteContentBackend:
    """Object rows in SQLite, sealed chunks in one file per object."""

    def __init__(
        self, data_dir: Path, *, chunk_size: int = DEFAULT_CHUNK_SIZE, durable: bool = False
    ) -> None:
        self.chunk_size = chunk_size
        self._dir = data_dir / "content"
        self._db = SqliteDb(data_dir / "content.sqlite3", _SCHEMA)
        self._durable = durable

    def path_of(self, key_id: str) -> Path:
        """The chunk file of an object (its data key id names it)."""
        if not key_id.isalnum():
            raise ValueError("key ids are hex")
        return self._dir / key_id[:2] / key_id

    async def object(self, tenant_id: str, data_class: str, object_id: str) -> ObjectRow | None:
        """The object's row, or None."""
        r = await self._db.run(
            lambda c: c.execute(
                f"SELECT {_COLS} FROM content_object WHERE tenant_id = ? AND data_class = ? "
                "AND object_id = ?",
                (tenant_id, data_class, object_id),
            ).fetchone()
        )
        return None if r is None else _row(r)

    async def writer(self, key_id: str) -> _FileWriter:
        """A writer to the object's chunk file."""
        _private_dir(self._dir)
        return _FileWriter(self.path_of(key_id), self._durable)

    async def put_object(self, row: ObjectRow) -> bool:
        """Insert the row, replacing a deleted one; False when a live one exists."""
        values = (row.tenant_id, row.data_class, row.object_id, row.key_id, row.size,
                  row.chunk_count, row.chunk_size, row.created, row.sealed_meta, 0)

        def _put(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                f"INSERT INTO content_object ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET key_id = excluded.key_id, size = excluded.size, "
                "chunk_count = excluded.chunk_count, chunk_size = excluded.chunk_size, "
                "created = excluded.created, sealed_meta = excluded.sealed_meta, deleted = 0 "
                "WHERE content_object.deleted = 1",
                values,
            )
            return cur.rowcount == 1

        return await self._db.run(_put)

    async def read_chunks(self, key_id: str, chunk_count: int) -> AsyncIterator[memoryview]:
        """The sealed chunks in order, as views of the memory-mapped file (no copy: the
        cipher reads straight from the page cache); stops early at a missing file or a
        short record."""
        try:
            with open(self.path_of(key_id), "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    return
                mapped = mmap.mmap(  # populated: one fault-in, not one per page
                    f.fileno(), 0, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ
                )
        except FileNotFoundError:
            return
        view = memoryview(mapped)
        try:
            pos, end = 0, len(view)
            for _ in range(chunk_count):
                if pos + _LEN.size > end:
                    return
                length = _LEN.unpack_from(view, pos)[0]
                pos += _LEN.size
                if pos + length > end:
                    return
                yield view[pos : pos + length]
                pos += length
        finally:
            try:
                view.release()
                mapped.close()
            except BufferError:  # a caller still holds a chunk view: the map goes with it
                pass

    async def mark_deleted(self, tenant_id: str, data_class: str, object_id: str) -> None:
        """Mark the row deleted and drop its sealed metadata."""
        await self._db.run(
            lambda c: c.execute(
                "UPDATE content_object SET deleted = 1, sealed_meta = x'' "
                "WHERE tenant_id = ? AND data_class = ? AND object_id = ?",
                (tenant_id, data_class, object_id),
            )
        )

    async def drop_chunks(self, key_id: str) -> None:
        """Remove the chunk file."""
        try:
            self.path_of(key_id).unlink()
        except FileNotFoundError:
            pass

    async def list_objects(self, tenant_id: str, data_class: str) -> list[ObjectRow]:
        """Live rows of a tenant and class, by object id."""
        rows = await self._db.run(
            lambda c: c.execute(
                f"SELECT {_COLS} FROM content_object WHERE tenant_id = ? AND data_class = ? "
                "AND deleted = 0 ORDER BY object_id",
                (tenant_id, data_class),
            ).fetchall()
        )
        return [_row(r) for r in rows]

    async def close(self) -> None:
        """Close the row file."""
        await self._db.close()

"""One SQLite file used from asyncio: a dedicated thread owns the connection.

Why a thread: a write may wait on another process's lock (up to the busy timeout), and that
wait must not stall the event loop. One thread per file keeps the connection single-threaded
(as sqlite3 wants) and serializes this process's statements; several processes share the
file safely through WAL mode and the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from fabric.errors import Unavailable

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000


class SqliteDb:
    """A SQLite file opened in WAL mode, used through :meth:`run` from async code."""

    def __init__(self, path: Path, schema: str, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.stem}")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.executescript(self._schema)
        self._conn = conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._open()
        assert self._conn is not None
        try:
            return fn(self._conn)
        except sqlite3.OperationalError as exc:
            raise Unavailable(
                f"embedded store {self.path.name} is not usable ({exc}); check the disk and "
                "that no other process holds a long write lock",
                error_id="storage-unavailable",
            ) from exc

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the store's thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` from synchronous code (start-up, tests)."""
        return self._executor.submit(self._call, fn).result()

    async def close(self) -> None:
        """Close the connection and stop the thread."""

        def _close(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await self.run(_close)
        self._executor.shutdown(wait=True)


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` inside BEGIN IMMEDIATE ... COMMIT (rolled back on error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result

"""One SQLite file used from asyncio: short statements on the loop, waits on a thread.

Why two connections: a write may wait on another process's lock (up to the busy timeout),
and that wait must not stall the event loop; but handing every statement to a thread costs
more than the statement (~60 us of future and wake-up plumbing against ~15 us for an
indexed read or write in WAL mode). So a file opened with ``synchronous`` NORMAL or OFF
(commits do not fsync) runs each call first on a *loop connection* with no busy timeout,
inside one transaction: if SQLite answers "locked"/"busy" (another process holds the write
lock), that transaction is rolled back - it wrote nothing, since a transaction that wrote
holds the lock and cannot meet "busy" again - and the call runs on the file's thread,
whose connection waits up to the busy timeout as before. The loop connection never
checkpoints (``wal_autocheckpoint = 0``); the thread runs a passive checkpoint after every
``CHECKPOINT_EVERY`` loop commits, so the loop never does checkpoint I/O and fsyncs.
A file opened with ``synchronous = FULL`` (every commit fsyncs, e.g. the CDR spool) keeps
every call on its thread.

Semantics are the same on both paths: what a call wrote before it raised stays written
(as with per-statement autocommit), a compare-and-set is one conditional statement, and a
call's future resolves only after its commit. Several processes share the file safely
through WAL mode and the busy timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from fabric.errors import Unavailable

T = TypeVar("T")
BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY = 500  # loop-connection commits between passive checkpoints on the thread

log = logging.getLogger(__name__)


def make_private(path: Path) -> None:
    """Make ``path``'s folder 0700 and the file (and its -wal/-shm) 0600 before SQLite opens
    it; SQLite gives the -wal and -shm files the mode of the database file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(f"{path}{suffix}", 0o600)
        except FileNotFoundError:
            pass


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteDb:
    """A SQLite file opened in WAL mode, used through :meth:`run` from async code."""

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        synchronous: str = "NORMAL",
        pragmas: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self._pragmas = pragmas
        self._schema = schema
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.stem}")
        self._conn: sqlite3.Connection | None = None
        self._inline = synchronous.upper() in ("NORMAL", "OFF")
        self._loop_conn: sqlite3.Connection | None = None
        self._loop_commits = 0
        self._closed = False
        self.inline_calls = 0  # calls served on the loop connection
        self.thread_calls = 0  # calls served on the thread (busy fallbacks included)

    def _open(self) -> None:
        make_private(self.path)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        for pragma in self._pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.executescript(self._schema)
        self._conn = conn

    def _open_loop_conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")
        for pragma in self._pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._loop_conn = conn
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._open()
        assert self._conn is not None
        try:
            return fn(self._conn)
        except sqlite3.OperationalError as exc:
            raise self._unusable(exc) from exc

    def _unusable(self, exc: sqlite3.OperationalError) -> Unavailable:
        return Unavailable(
            f"embedded store {self.path.name} is not usable ({exc}); check the disk and "
            "that no other process holds a long write lock",
            error_id="storage-unavailable",
        )

    def _try_inline(self, fn: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """Run ``fn`` in one transaction on the loop connection; (False, None) if busy."""
        conn = self._loop_conn or self._open_loop_conn()
        try:
            conn.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                return False, None
            raise self._unusable(exc) from exc
        try:
            result = fn(conn)
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            if _is_busy(exc):  # met another process's lock before writing anything
                return False, None
            raise self._unusable(exc) from exc
        except BaseException:
            self.inline_calls += 1
            self._commit(conn)  # what it wrote before raising stays, as in autocommit
            raise
        self.inline_calls += 1
        self._commit(conn)
        return True, result

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._unusable(exc) from exc
        self._loop_commits += 1
        if self._loop_commits >= CHECKPOINT_EVERY:
            self._loop_commits = 0
            self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            self._call(lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)"))
        except Exception as exc:  # noqa: BLE001 - the next one retries; WAL stays valid
            log.debug("checkpoint of %s failed: %s", self.path.name, type(exc).__name__)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` and return its result (on the loop unless it must wait)."""
        if self._inline and self._conn is not None and not self._closed:
            done, result = self._try_inline(fn)
            if done:
                return result  # type: ignore[return-value]
        self.thread_calls += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    async def checkpoint(self) -> None:
        """Fold the WAL into the file and truncate it (on the thread)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor,
            self._call,
            lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall(),
        )

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` from synchronous code (start-up, tests)."""
        return self._executor.submit(self._call, fn).result()

    async def close(self) -> None:
        """Close both connections and stop the thread."""
        self._closed = True
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

        def _close(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._call, _close)
        self._executor.shutdown(wait=True)


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` atomically: BEGIN IMMEDIATE ... COMMIT, or a savepoint inside a
    transaction already open (rolled back on error)."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT fabric_tx")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK TO fabric_tx")
            conn.execute("RELEASE fabric_tx")
            raise
        conn.execute("RELEASE fabric_tx")
        return result
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result

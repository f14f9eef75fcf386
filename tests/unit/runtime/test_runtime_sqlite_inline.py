"""The embedded actor store's loop fast path: calls run on the loop connection, and a call
that meets another connection's write lock waits on the store's thread instead (the loop
keeps running), then succeeds; a lost compare-and-set still refuses."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from fabric.errors import FailedPrecondition
from fabric.storage.sqlite_actor import SqliteStateStore, open_actor_db


async def test_calls_run_inline_and_keep_compare_and_set(tmp_path: Path) -> None:
    db = open_actor_db(tmp_path / "a.sqlite3")
    store = SqliteStateStore(db)
    try:
        v = await store.save("call", "k", b"one", 0)
        v = await store.save("call", "k", b"two", v)
        with pytest.raises(FailedPrecondition):
            await store.save("call", "k", b"stale", 1)
        loaded = await store.load("call", "k")
        assert loaded is not None and (loaded.data, loaded.version) == (b"two", 2)
        assert db.inline_calls >= 3
    finally:
        await store.close()


async def test_write_meeting_another_writers_lock_waits_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    db = open_actor_db(path)
    store = SqliteStateStore(db)
    try:
        await store.save("call", "k", b"one", 0)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        other.execute("UPDATE actor_state SET data = x'00' WHERE key = 'none'")
        before = db.thread_calls
        save = asyncio.ensure_future(store.save("call", "k", b"two", 1))
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the save waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not save.done()
        assert db.thread_calls == before + 1
        other.execute("COMMIT")
        assert await save == 2
        other.close()
        loaded = await store.load("call", "k")
        assert loaded is not None and loaded.data == b"two"
    finally:
        await store.close()

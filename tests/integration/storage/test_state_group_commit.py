"""Group commit of fenced writes on Cassandra: writes of many actors ready at once go in few
requests, each write all or nothing and each told its own outcome (a write the server
refuses fails alone, the writes grouped apart from it land)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from cassandra.query import BatchStatement

from fabric.config import StorageSettings
from fabric.errors import Unavailable
from fabric.storage.base import ReminderChange
from fabric.storage.cassandra_actor import GROUP_BYTES, CassandraStateStore

pytestmark = pytest.mark.cassandra

KIND = "grouped"


async def test_writes_ready_together_go_in_few_requests_and_each_lands(
    cassandra_settings: StorageSettings,
) -> None:
    store = await CassandraStateStore.open(cassandra_settings)
    try:
        keys = [uuid.uuid4().hex for _ in range(24)]
        fences = await asyncio.gather(*(store.claim(KIND, k) for k in keys))
        batches: list[Any] = []
        session = store._conn.session
        execute_async = session.execute_async

        def counting(statement: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(statement, BatchStatement):
                batches.append(statement)
            return execute_async(statement, *args, **kwargs)

        session.execute_async = counting  # type: ignore[method-assign]
        due = time.time() + 3600
        try:
            versions = await asyncio.gather(*(
                store.write(f, f"state-{i}".encode(), (ReminderChange("ring", due + i, None),))
                for i, f in enumerate(fences)))
        finally:
            session.execute_async = execute_async  # type: ignore[method-assign]
        assert versions == [1] * len(keys)
        assert 1 <= len(batches) < len(keys)  # grouped: fewer requests than writes
        for i, key in enumerate(keys):
            stored = await store.load(KIND, key)
            assert stored is not None and stored.data == f"state-{i}".encode()
            assert await store.reminders_of(KIND, key) == {"ring": due + i}
    finally:
        await store.close()


async def test_a_refused_write_fails_alone(cassandra_settings: StorageSettings) -> None:
    store = await CassandraStateStore.open(cassandra_settings)
    try:
        big_key, small_key = uuid.uuid4().hex, uuid.uuid4().hex
        big, small = await store.claim(KIND, big_key), await store.claim(KIND, small_key)
        due = time.time() + 3600
        # over the server's batch size limit (640 KiB as cluster/ sets it; 50 KiB by
        # default): refused; grouped apart from the small one by its size
        huge = b"x" * 700_000
        assert len(huge) > GROUP_BYTES
        results = await asyncio.gather(
            store.write(big, huge, (ReminderChange("ring", due, None),)),
            store.write(small, b"small", (ReminderChange("ring", due, None),)),
            return_exceptions=True,
        )
        assert isinstance(results[0], Unavailable)
        assert results[1] == 1
        assert await store.load(KIND, big_key) is None  # all or nothing: neither row
        assert await store.reminders_of(KIND, big_key) == {}
        stored = await store.load(KIND, small_key)
        assert stored is not None and stored.data == b"small"
    finally:
        await store.close()

import pytest

from fabric.errors import FailedPrecondition
from fabric.storage.base import Reminder, ReminderStore, StateStore
from fabric.storage.memory import MemoryReminderStore, MemoryStateStore


async def test_state_store_cas() -> None:
    store = MemoryStateStore()
    assert isinstance(store, StateStore)
    assert await store.load("k", "1") is None
    assert await store.save("k", "1", b"a", 0) == 1
    with pytest.raises(FailedPrecondition):
        await store.save("k", "1", b"b", 0)
    assert await store.save("k", "1", b"b", 1) == 2
    stored = await store.load("k", "1")
    assert stored is not None and (stored.data, stored.version) == (b"b", 2)
    await store.delete("k", "1")
    assert await store.load("k", "1") is None


async def test_reminders_due_earliest_first() -> None:
    store = MemoryReminderStore()
    assert isinstance(store, ReminderStore)
    await store.upsert(Reminder("k", "1", "late", 20.0))
    await store.upsert(Reminder("k", "2", "early", 10.0))
    await store.upsert(Reminder("k", "3", "future", 99.0))
    assert [r.name for r in await store.due(30.0)] == ["early", "late"]
    await store.upsert(Reminder("k", "2", "early", 50.0))  # moved
    assert [r.name for r in await store.due(30.0)] == ["late"]
    await store.cancel("k", "1", "late")
    assert await store.due(30.0) == []
    assert [r.name for r in await store.due(100.0, limit=1)] == ["early"]

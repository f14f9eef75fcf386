"""The embedded MDR store group-commits: records written at once by many conversations share
transactions, every write returns once its record is stored, the last write of a message id
wins, and a failed transaction fails exactly the writes it carried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabric.errors import Unavailable
from fabric.storage.mdr import Mdr
from fabric.storage.sqlite_mdr import SqliteMdrStore
from fabric.vault.provider import LocalFileKeyProvider
from fabric.vault.sqlite_keys import SqliteKeyStore
from fabric.vault.vault import Vault

NOW_MS = int(time.time() * 1000)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteMdrStore]:
    vault = Vault(LocalFileKeyProvider(tmp_path / "root.key"), SqliteKeyStore(tmp_path / "v.db"))
    s = await SqliteMdrStore(tmp_path / "mdr.sqlite3", vault=vault).open()
    try:
        yield s
    finally:
        await s.close()
        await vault.close()


def _mdr(i: int, status: str = "delivered") -> Mdr:
    return Mdr("t-a", f"{i:032d}", "outbound", "+15550100001", f"+1555010{i:04d}",
               NOW_MS - i, 1, "gsm7", status)


async def test_concurrent_writes_share_commits_and_all_land(store: SqliteMdrStore) -> None:
    before = store._db.inline_calls
    await asyncio.gather(*(store.write(_mdr(i)) for i in range(50)))
    transactions = store._db.inline_calls - before
    assert 1 <= transactions < 50
    got = await store.list("t-a", 0, NOW_MS + 1, 100)
    assert sorted(m.message_id for m in got) == [f"{i:032d}" for i in range(50)]
    assert {m.to_number for m in got} == {f"+1555010{i:04d}" for i in range(50)}


async def test_last_write_of_a_message_wins(store: SqliteMdrStore) -> None:
    await asyncio.gather(store.write(_mdr(1, "accepted")), store.write(_mdr(1, "failed")))
    [only] = await store.list("t-a", 0, NOW_MS + 1, 10)
    assert only.status == "failed"


async def test_a_failed_transaction_fails_its_writes(store: SqliteMdrStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run = store._db.run

    async def down(fn: object) -> object:
        raise Unavailable("disk gone", error_id="storage-unavailable")

    monkeypatch.setattr(store._db, "run", down)
    results = await asyncio.gather(*(store.write(_mdr(i)) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    monkeypatch.setattr(store._db, "run", run)
    await store.write(_mdr(9))  # the store goes on once the disk is back
    assert [m.message_id for m in await store.list("t-a", 0, NOW_MS + 1, 10)] == [f"{9:032d}"]

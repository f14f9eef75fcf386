"""The audit chain verifies, and detects an edited, a removed and a truncated entry, on the
in-memory store and on the SQLite store (whose triggers refuse edits unless dropped)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from fabric.audit.chain import AuditWriter, verify_log
from fabric.audit.entry import AuditEntry
from fabric.audit.sqlite_store import SqliteAuditStore
from fabric.audit.store import AuditQuery, AuditStore, MemoryAuditStore


def _entry(n: int, log_id: str = "t-1") -> AuditEntry:
    return AuditEntry(log_id=log_id, stream="", seq=0, at_us=0, principal=f"u-{n % 3}",
                      role="admin", principal_tenant=log_id, key_id="k", method=
                      f"/fabric.api.v1.TenantAdmin/{'ListUsers' if n % 2 else 'GetConfig'}",
                      action="read", object_class="users", object_id="", peer="10.0.0.1",
                      outcome="OK", error_id="", prev_hash="")


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditStore]:
    made: AuditStore = (MemoryAuditStore() if request.param == "memory"
                        else SqliteAuditStore(tmp_path / "audit.sqlite3"))
    yield made
    await made.close()


async def _fill(store: AuditStore, n: int = 6) -> list[AuditEntry]:
    writer = AuditWriter(store)
    return [await writer.append(_entry(i)) for i in range(n)]


def _tamper(store: AuditStore, tmp_path: Path, sql: str, args: tuple[object, ...]) -> None:
    """What an attacker with the file can do: drop the triggers, then edit."""
    conn = sqlite3.connect(tmp_path / "audit.sqlite3")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_early_delete")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


async def test_an_untouched_log_verifies(store: AuditStore) -> None:
    written = await _fill(store)
    verdict = await verify_log(store, "t-1", time.time())
    assert verdict.ok, verdict.problems
    assert (verdict.entries, verdict.streams) == (6, 1)
    assert [e.seq for e in written] == [1, 2, 3, 4, 5, 6]
    assert all(b.prev_hash == a.hash for a, b in zip(written, written[1:], strict=False))


async def test_an_edited_entry_is_detected(store: AuditStore, tmp_path: Path) -> None:
    written = await _fill(store)
    victim = written[2]
    forged = replace(victim, principal="u-someone-else")
    if isinstance(store, MemoryAuditStore):
        store.rows["t-1"][2] = forged
    else:
        _tamper(store, tmp_path, "UPDATE audit_log SET body = ? WHERE seq = ?",
                (forged.to_json(), victim.seq))
    verdict = await verify_log(store, "t-1", time.time())
    assert not verdict.ok
    assert any("seq 3: edited" in p for p in verdict.problems), verdict.problems


async def test_an_edited_and_rehashed_entry_breaks_the_next_link(
    store: AuditStore, tmp_path: Path
) -> None:
    written = await _fill(store)
    forged = replace(written[2], outcome="PERMISSION_DENIED").sealed()
    if isinstance(store, MemoryAuditStore):
        store.rows["t-1"][2] = forged
    else:
        _tamper(store, tmp_path, "UPDATE audit_log SET body = ? WHERE seq = 3",
                (forged.to_json(),))
    verdict = await verify_log(store, "t-1", time.time())
    assert any("seq 4: does not link" in p for p in verdict.problems), verdict.problems


async def test_a_removed_entry_is_detected(store: AuditStore, tmp_path: Path) -> None:
    await _fill(store)
    if isinstance(store, MemoryAuditStore):
        del store.rows["t-1"][3]
    else:
        _tamper(store, tmp_path, "DELETE FROM audit_log WHERE seq = ?", (4,))
    verdict = await verify_log(store, "t-1", time.time())
    assert any("entries 4-4 removed" in p for p in verdict.problems), verdict.problems


async def test_removing_the_newest_entries_is_detected(store: AuditStore, tmp_path: Path) -> None:
    await _fill(store)
    if isinstance(store, MemoryAuditStore):
        del store.rows["t-1"][4:]
    else:
        _tamper(store, tmp_path, "DELETE FROM audit_log WHERE seq >= ?", (5,))
    verdict = await verify_log(store, "t-1", time.time())
    assert any("entries 5-6 removed" in p for p in verdict.problems), verdict.problems


async def test_removing_the_first_entries_is_detected(store: AuditStore, tmp_path: Path) -> None:
    await _fill(store)
    if isinstance(store, MemoryAuditStore):
        del store.rows["t-1"][:2]
    else:
        _tamper(store, tmp_path, "DELETE FROM audit_log WHERE seq <= ?", (2,))
    verdict = await verify_log(store, "t-1", time.time())
    assert any("entries 1-2 removed" in p for p in verdict.problems), verdict.problems


async def test_sqlite_refuses_edits_and_early_deletes(tmp_path: Path) -> None:
    store = SqliteAuditStore(tmp_path / "audit.sqlite3")
    await _fill(store, 2)
    conn = sqlite3.connect(tmp_path / "audit.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET outcome = 'OK'")
    with pytest.raises(sqlite3.IntegrityError, match="7 years"):
        conn.execute("DELETE FROM audit_log")
    conn.close()
    assert await store.purge_expired() == 0
    assert (await verify_log(store, "t-1", time.time())).ok
    await store.close()


async def test_pages_and_filters(store: AuditStore) -> None:
    writer = AuditWriter(store)
    for i in range(7):
        await writer.append(replace(_entry(i), at_us=1_000_000 + i))
    await AuditWriter(store).append(_entry(99, log_id="t-other"))
    seen: list[int] = []
    token = ""
    while True:
        page = await store.query("t-1", AuditQuery(limit=3, page_token=token))
        seen += [e.at_us for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == [1_000_000 + i for i in reversed(range(7))]
    only = await store.query("t-1", AuditQuery(method="ListUsers", principal="u-1"))
    assert [e.at_us - 1_000_000 for e in only.entries] == [1]
    ranged = await store.query("t-1", AuditQuery(since_us=1_000_002, until_us=1_000_003))
    assert len(ranged.entries) == 2

"""One contract suite for every storage backend: embedded (SQLite) and Cassandra.

Every test runs once per backend. Tests isolate themselves by random tenant ids and actor
keys, so the Cassandra backend shares one keyspace for the whole session.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from fabric.cdr import Disposition
from fabric.config import StorageSettings, VaultSettings
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound
from fabric.storage.base import CdrStore, Reminder, ReminderStore, StateStore
from fabric.storage.cassandra_actor import CassandraReminderStore, CassandraStateStore
from fabric.storage.cassandra_cdr import CassandraCdrStore
from fabric.storage.cassandra_reminders import BUCKET_S, FLOOR_MARGIN_S
from fabric.storage.cassandra_session import connect_sync
from fabric.storage.sqlite_actor import SqliteReminderStore, SqliteStateStore, open_actor_db
from fabric.storage.sqlite_cdr import SqliteCdrStore
from fabric.vault.factory import open_vault
from fabric.vault.vault import Vault

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]
DAY = datetime(2026, 5, 1, tzinfo=UTC)


def _tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path) -> StorageSettings:
    if request.param == "cassandra":
        return request.getfixturevalue("cassandra_settings")
    return StorageSettings(backend="embedded", data_dir=tmp_path / "data")


@pytest.fixture()
async def vault(backend_settings: StorageSettings, tmp_path) -> AsyncIterator[Vault]:
    """The vault CDR numbers are sealed with (as ``open_stores`` always sets up)."""
    conn = connect_sync(backend_settings) if backend_settings.backend == "cassandra" else None
    v = await open_vault(
        backend_settings, VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        connection=conn,
    )
    yield v
    await v.close()
    if conn is not None:
        conn.shutdown()


@pytest.fixture()
async def cdr_store(backend_settings: StorageSettings, vault: Vault) -> AsyncIterator[CdrStore]:
    if backend_settings.backend == "cassandra":
        store: CdrStore = await CassandraCdrStore.open(backend_settings, vault=vault)
    else:
        store = await SqliteCdrStore(
            backend_settings.data_dir / "cdr.sqlite3", vault=vault
        ).open()
    yield store
    await store.close()


@pytest.fixture()
async def state_store(backend_settings: StorageSettings) -> AsyncIterator[StateStore]:
    if backend_settings.backend == "cassandra":
        store: StateStore = await CassandraStateStore.open(backend_settings)
    else:
        store = SqliteStateStore(open_actor_db(backend_settings.data_dir / "actors.sqlite3"))
    yield store
    await store.close()


@pytest.fixture()
async def reminder_store(backend_settings: StorageSettings) -> AsyncIterator[ReminderStore]:
    if backend_settings.backend == "cassandra":
        store: ReminderStore = await CassandraReminderStore.open(backend_settings)
    else:
        store = SqliteReminderStore(open_actor_db(backend_settings.data_dir / "actors.sqlite3"))
    yield store
    await store.close()


# --- CDRs -------------------------------------------------------------------------------------


async def test_cdr_write_then_get_returns_the_same_record(cdr_store, make_cdr):
    cdr = make_cdr(
        tenant_id=_tenant(),
        recorded=True,
        recording_consent="announcement",
        node_ids=["n1", "n2"],
        start_time=DAY + timedelta(hours=3, microseconds=123456),
    )
    await cdr_store.write(cdr)
    assert isinstance(cdr_store, CdrStore)
    assert await cdr_store.get(cdr.tenant_id, cdr.call_id) == cdr


async def test_cdr_recording_fields_roundtrip(cdr_store, make_cdr):
    """Issue 11: who asked, when the announcement began, the ids and an objection."""
    start = DAY + timedelta(hours=5)
    cdr = make_cdr(
        tenant_id=_tenant(),
        start_time=start,
        recorded=True,
        recording_consent="call-request",
        recording_requested_by="u-1a2b3c4d5e6f",
        recording_announced_at=start + timedelta(seconds=10, microseconds=7_000),
        recording_ids=["20260301-a1-1", "20260301-a1-2"],
        recording_objection="callee",
    )
    await cdr_store.write(cdr)
    back = await cdr_store.get(cdr.tenant_id, cdr.call_id)
    assert back == cdr
    assert back.recording_ids == ("20260301-a1-1", "20260301-a1-2")
    assert back.recording_announced_at == start + timedelta(seconds=10, microseconds=7_000)
    plain = make_cdr(tenant_id=_tenant())
    await cdr_store.write(plain)
    back = await cdr_store.get(plain.tenant_id, plain.call_id)
    assert (back.recorded, back.recording_ids, back.recording_announced_at) == (False, (), None)


async def test_cdr_unanswered_call_roundtrips(cdr_store, make_cdr):
    cdr = make_cdr(
        tenant_id=_tenant(),
        answer_time=None,
        disposition=Disposition.BUSY,
        billable_s=0,
        duration_s=3,
        end_time=DAY + timedelta(seconds=3),
        start_time=DAY,
        from_number="201",
        to_number="20345678",
    )
    await cdr_store.write(cdr)
    assert await cdr_store.get(cdr.tenant_id, cdr.call_id) == cdr


async def test_cdr_retry_and_duplicate_leave_one_row(cdr_store, make_cdr):
    tenant = _tenant()
    cdr = make_cdr(tenant_id=tenant, start_time=DAY + timedelta(hours=1))
    await cdr_store.write(cdr)
    await cdr_store.write(cdr)
    await asyncio.gather(*(cdr_store.write(cdr) for _ in range(5)))
    page = await cdr_store.query(tenant, DAY, DAY + timedelta(days=1))
    assert page.records == [cdr]
    assert page.next_page_token == ""


async def test_cdr_of_another_tenant_or_absent_is_not_found(cdr_store, make_cdr):
    cdr = make_cdr(tenant_id=_tenant())
    await cdr_store.write(cdr)
    with pytest.raises(NotFound) as info:
        await cdr_store.get(_tenant(), cdr.call_id)
    assert info.value.error_id == "cdr-not-found"
    with pytest.raises(NotFound):
        await cdr_store.get(cdr.tenant_id, "call-that-never-was")


@pytest.mark.parametrize(
    ("overrides", "error_id"),
    [
        ({"call_id": ""}, "cdr-missing-id"),
        ({"to_number": "+12"}, "cdr-invalid-number"),
        ({"end_time": DAY - timedelta(seconds=1), "answer_time": None, "billable_s": 0,
          "duration_s": 0, "disposition": Disposition.FAILED}, "cdr-end-before-start"),
    ],
)  # fmt: skip
async def test_cdr_invalid_record_is_refused_and_nothing_written(
    cdr_store, make_cdr, overrides, error_id
):
    tenant = _tenant()
    cdr = make_cdr(tenant_id=tenant, start_time=DAY, **overrides)
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.write(cdr)
    assert info.value.error_id == error_id
    page = await cdr_store.query(tenant, DAY - timedelta(days=1), DAY + timedelta(days=1))
    assert page.records == []
    if cdr.call_id:
        with pytest.raises(NotFound):
            await cdr_store.get(tenant, cdr.call_id)


async def test_cdr_query_is_half_open_newest_first_and_per_tenant(cdr_store, make_cdr):
    tenant, other = _tenant(), _tenant()
    times = [DAY - timedelta(minutes=1), DAY, DAY + timedelta(hours=30), DAY + timedelta(days=2)]
    cdrs = [make_cdr(tenant_id=tenant, start_time=t) for t in times]
    for cdr in cdrs:
        await cdr_store.write(cdr)
    await cdr_store.write(make_cdr(tenant_id=other, start_time=DAY + timedelta(hours=1)))
    page = await cdr_store.query(tenant, DAY, DAY + timedelta(days=2))
    assert page.records == [cdrs[2], cdrs[1]]


async def test_cdr_pages_cover_every_record_once_across_days_and_instances(
    cdr_store, make_cdr, backend_settings, vault
):
    tenant = _tenant()
    cdrs = [make_cdr(tenant_id=tenant, start_time=DAY + timedelta(hours=7 * i)) for i in range(23)]
    same_time = [make_cdr(tenant_id=tenant, start_time=DAY + timedelta(hours=8)) for _ in range(3)]
    for cdr in cdrs + same_time:
        await cdr_store.write(cdr)
    start, end = DAY, DAY + timedelta(days=10)
    seen, token, pages = [], "", 0
    while True:
        page = await cdr_store.query(tenant, start, end, page_size=10, page_token=token)
        seen.extend(page.records)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    expected = sorted(cdrs + same_time, key=lambda c: (c.start_time, c.call_id), reverse=True)
    assert seen == expected
    # a token is a position, not a driver cursor: a fresh store instance continues the query
    first = await cdr_store.query(tenant, start, end, page_size=4)
    if backend_settings.backend == "cassandra":
        fresh: CdrStore = await CassandraCdrStore.open(backend_settings, vault=vault)
    else:
        fresh = await SqliteCdrStore(backend_settings.data_dir / "cdr.sqlite3", vault=vault).open()
    try:
        second = await fresh.query(
            tenant, start, end, page_size=4, page_token=first.next_page_token
        )
    finally:
        await fresh.close()
    assert second.records == expected[4:8]


async def test_cdr_query_by_number_pages(cdr_store, make_cdr):
    tenant = _tenant()
    number = "+33142868200"
    matching = []
    for i in range(12):
        kwargs = {}
        if i % 3 == 0:
            kwargs = {"from_number": number}
        elif i % 3 == 1:
            kwargs = {"to_number": number}
        cdr = make_cdr(tenant_id=tenant, start_time=DAY + timedelta(minutes=i), **kwargs)
        await cdr_store.write(cdr)
        if kwargs:
            matching.append(cdr)
    end = DAY + timedelta(days=1)
    first = await cdr_store.query(tenant, DAY, end, number=number, page_size=5)
    second = await cdr_store.query(
        tenant, DAY, end, number=number, page_size=5, page_token=first.next_page_token
    )
    assert len(first.records) == 5 and first.next_page_token
    assert first.records + second.records == matching[::-1]
    assert second.next_page_token == ""


async def test_cdr_query_refuses_bad_arguments(cdr_store):
    tenant = _tenant()
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.query(tenant, DAY, DAY)
    assert info.value.error_id == "cdr-invalid-range"
    with pytest.raises(InvalidArgument):
        await cdr_store.query(tenant, DAY.replace(tzinfo=None), DAY + timedelta(days=1))
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.query(tenant, DAY, DAY + timedelta(days=1), page_size=0)
    assert info.value.error_id == "cdr-invalid-page-size"
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.query(tenant, DAY, DAY + timedelta(days=1), number="1")
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.query(tenant, DAY, DAY + timedelta(days=1), page_token="garbage!")
    assert info.value.error_id == "cdr-invalid-page-token"
    with pytest.raises(InvalidArgument):
        await cdr_store.query("", DAY, DAY + timedelta(days=1))


async def test_cdr_token_of_another_query_is_refused(cdr_store, make_cdr):
    tenant = _tenant()
    for i in range(3):
        await cdr_store.write(make_cdr(tenant_id=tenant, start_time=DAY + timedelta(minutes=i)))
    page = await cdr_store.query(tenant, DAY, DAY + timedelta(days=1), page_size=1)
    with pytest.raises(InvalidArgument) as info:
        await cdr_store.query(
            _tenant(), DAY, DAY + timedelta(days=1), page_size=1, page_token=page.next_page_token
        )
    assert info.value.error_id == "cdr-invalid-page-token"


async def test_cdr_delete_tenant_erases_only_that_tenant(cdr_store, make_cdr):
    tenant, other = _tenant(), _tenant()
    mine = [make_cdr(tenant_id=tenant, start_time=DAY + timedelta(days=i)) for i in range(3)]
    theirs = make_cdr(tenant_id=other, start_time=DAY)
    for cdr in [*mine, theirs]:
        await cdr_store.write(cdr)
    assert await cdr_store.delete_tenant(tenant) == 3
    assert (await cdr_store.query(tenant, DAY, DAY + timedelta(days=5))).records == []
    with pytest.raises(NotFound):
        await cdr_store.get(tenant, mine[0].call_id)
    assert await cdr_store.get(other, theirs.call_id) == theirs
    assert await cdr_store.delete_tenant(tenant) == 0
    # the tenant can have CDRs again afterwards
    again = make_cdr(tenant_id=tenant, start_time=DAY)
    await cdr_store.write(again)
    assert (await cdr_store.query(tenant, DAY, DAY + timedelta(days=1))).records == [again]


# --- actor state ------------------------------------------------------------------------------


async def test_state_compare_and_set(state_store):
    key = uuid.uuid4().hex
    assert await state_store.load("call", key) is None
    assert await state_store.save("call", key, b"one", 0) == 1
    with pytest.raises(FailedPrecondition) as info:
        await state_store.save("call", key, b"stale", 0)
    assert info.value.error_id == "state-version-conflict"
    assert await state_store.save("call", key, b"two", 1) == 2
    with pytest.raises(FailedPrecondition):
        await state_store.save("call", key, b"stale", 1)
    stored = await state_store.load("call", key)
    assert stored is not None and (stored.data, stored.version) == (b"two", 2)
    await state_store.delete("call", key)
    assert await state_store.load("call", key) is None
    assert await state_store.save("call", key, b"fresh", 0) == 1
    with pytest.raises(FailedPrecondition):
        await state_store.save("call", uuid.uuid4().hex, b"x", 3)
    with pytest.raises(InvalidArgument):
        await state_store.save("call", key, b"x", -1)
    await state_store.delete("call", "never-stored")


async def test_state_racing_saves_have_one_winner(state_store):
    key = uuid.uuid4().hex
    await state_store.save("tenant", key, b"v1", 0)
    results = await asyncio.gather(
        *(state_store.save("tenant", key, f"w{i}".encode(), 1) for i in range(4)),
        return_exceptions=True,
    )
    winners = [r for r in results if r == 2]
    assert len(winners) == 1
    assert all(isinstance(r, FailedPrecondition) for r in results if r != 2)


# --- reminders --------------------------------------------------------------------------------


async def test_reminders_due_earliest_first_move_and_cancel(reminder_store):
    key = uuid.uuid4().hex
    base = 1_900_000_000.0 + (uuid.uuid4().int % 10_000_000)
    await reminder_store.upsert(Reminder("mailbox", key, "purge", base + 10))
    await reminder_store.upsert(Reminder("mailbox", key, "remind", base + 5))
    await reminder_store.upsert(Reminder("call", key, "timeout", base + 7200))
    due = [r for r in await reminder_store.due(base + 10) if r.key == key]
    assert [r.name for r in due] == ["remind", "purge"]
    await reminder_store.upsert(Reminder("mailbox", key, "purge", base + 1))  # move earlier
    due = [r for r in await reminder_store.due(base + 10) if r.key == key]
    assert [(r.name, r.due) for r in due] == [("purge", base + 1), ("remind", base + 5)]
    await reminder_store.upsert(Reminder("mailbox", key, "remind", base + 3 * 3600))  # move later
    due = [r for r in await reminder_store.due(base + 10) if r.key == key]
    assert [r.name for r in due] == ["purge"]
    await reminder_store.cancel("mailbox", key, "purge")
    await reminder_store.cancel("mailbox", key, "never-set")
    assert [r for r in await reminder_store.due(base + 10) if r.key == key] == []
    later = [r for r in await reminder_store.due(base + 4 * 3600) if r.key == key]
    assert [r.name for r in later] == ["timeout", "remind"]


@pytest.mark.cassandra
async def test_cassandra_reminder_scans_start_at_their_floor(cassandra_settings):
    """After a full read of an hour, a scan reads from the earliest live due it found less
    FLOOR_MARGIN_S (the tombstones of cancelled reminders below stay unread); a reminder
    below that is found by the next full read."""
    store = await CassandraReminderStore.open(cassandra_settings)
    try:
        key = uuid.uuid4().hex
        hour = 500_000 + uuid.uuid4().int % 100_000  # an hour of this test's own
        base = hour * BUCKET_S + 1800.0

        def mine(found: list[Reminder]) -> list[tuple[str, float]]:
            return [(r.name, r.due) for r in found if r.key == key]

        await store.upsert(Reminder("k", key, "live", base))
        assert mine(await store.due(base + 100)) == [("live", base)]  # the first read: full
        store.full_scan_s = 3600.0  # the next reads start at the floor
        early = base - FLOOR_MARGIN_S - 100
        near = base - FLOOR_MARGIN_S + 10
        await store.upsert(Reminder("k", key, "early", early))
        assert mine(await store.due(base + 100)) == [("live", base)]  # below the floor's margin
        await store.upsert(Reminder("k", key, "near", near))
        assert mine(await store.due(base + 100)) == [("near", near), ("live", base)]
        store.full_scan_s = 0.0
        assert mine(await store.due(base + 100)) == [("early", early), ("near", near),
                                                     ("live", base)]
        for name in ("early", "near", "live"):
            await store.cancel("k", key, name)
        assert mine(await store.due(base + 100)) == []
    finally:
        await store.close()


async def test_reminders_limit(reminder_store):
    key = uuid.uuid4().hex
    base = 1_000_000_000.0 + (uuid.uuid4().int % 10_000_000)
    for i in range(5):
        await reminder_store.upsert(Reminder("k", key, f"r{i}", base + i))
    due = await reminder_store.due(base + 10, limit=3)
    assert len(due) == 3
    assert [r.due for r in due] == sorted(r.due for r in due)

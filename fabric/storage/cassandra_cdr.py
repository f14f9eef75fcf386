"""The Cassandra CDR store: prepared statements, the driver's async API, LOCAL_QUORUM.

Tables (``fabric/storage/migrations/001_cdr.cql``): ``cdr_by_tenant_day`` (partition = tenant and
UTC day of ``start_time``, newest first), ``cdr_by_call`` (the same record by call id) and
``cdr_tenant_days`` (the days a tenant has records on).

Writes: an UNLOGGED batch carrying both row inserts of a CDR (and the tenant-day marker the
first time this process sees that tenant and day). Writes that callers issue during the
same event-loop iteration are grouped (``fabric.storage.cassandra_group``), up to
``max_group`` CDRs per request: the client's
per-request CPU (and the wake-ups of the driver's I/O thread) is what limits ingest on a
small machine, and under load many writes are ready at once. A lone write still goes out
on the next loop iteration. The batch is not atomic across partitions, but a failed request
fails every write in it, and each is retried (by the spool) with the same keys, so rows
converge. The row keys are derived from the record itself, so a retry or a duplicate of
the same CDR overwrites the same two rows: one row per call. (A second record with the
same call id but another start time would land in another day row: the call's start time
is fixed when the call is created, and ``get`` returns the latest record.)

Reads: ``get`` is one partition read of ``cdr_by_call`` (another tenant's call id answers
``NotFound``, as an absent one). ``query`` lists the tenant's days in the range from
``cdr_tenant_days`` (a range of one or two days is read directly), then reads day
partitions newest first with a position seek
(``(start_time, call_id) < (?, ?)``) until the page is full; a number filter is applied to
the rows read (there is no secondary index: a tenant-day partition is small enough to scan).

Sealed numbers (with a vault, as ``open_stores`` always gives; :mod:`fabric.storage.cdr_seal`):
``from_number``/``to_number`` hold the blind indexes, ``sealed_numbers`` (migration 004) the
sealed pair; the number filter compares blind indexes. Rows without ``sealed_numbers``
(written before, or by a store without a vault) read back as plain.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement

from fabric.cdr import Cdr
from fabric.config import StorageSettings
from fabric.errors import FailedPrecondition, NotFound
from fabric.storage.base import CdrPage
from fabric.storage.cassandra_group import GroupCommit
from fabric.storage.cassandra_session import (
    CassandraConnection,
    connect,
    run,
    unavailable,
)
from fabric.storage.cdr_query import CdrQuery, build_query, check_call_id, check_tenant
from fabric.storage.cdr_seal import CdrSealer, SealedNumbers
from fabric.vault.vault import Vault

COLUMNS = (
    "from_number, to_number, direction, answer_time, end_time, duration_s, billable_s, "
    "disposition, hangup_cause, recorded, recording_consent, packets_sent, packets_received, "
    "packets_lost, jitter_ms, node_ids, sealed_numbers, recording_requested_by, "
    "recording_announced_at, recording_ids, recording_objection"
)
_N_COLUMNS = len(COLUMNS.split(","))
_MAX_SEEN_DAYS = 100_000
DEFAULT_MAX_GROUP = 16
_DIRECT_DAYS = 2
_DELETE_CONCURRENCY = 64


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def record_values(cdr: Cdr, sealed: SealedNumbers | None = None) -> list[Any]:
    """The values of ``COLUMNS`` for a CDR, in order (numbers sealed when ``sealed`` is
    given, else plain with ``sealed_numbers`` left unset)."""
    return [
        cdr.from_number if sealed is None else sealed.from_index,
        cdr.to_number if sealed is None else sealed.to_index,
        cdr.direction.value,
        _naive_utc(cdr.answer_time),
        _naive_utc(cdr.end_time),
        cdr.duration_s,
        cdr.billable_s,
        cdr.disposition.value,
        cdr.hangup_cause,
        cdr.recorded,
        cdr.recording_consent,
        cdr.packets_sent,
        cdr.packets_received,
        cdr.packets_lost,
        float(cdr.jitter_ms),
        list(cdr.node_ids),
        UNSET_VALUE if sealed is None else sealed.sealed,
        cdr.recording_requested_by,
        _naive_utc(cdr.recording_announced_at),
        list(cdr.recording_ids),
        cdr.recording_objection,
    ]


def _from_row(row: Any) -> Cdr:
    return Cdr(
        call_id=row.call_id,
        tenant_id=row.tenant_id,
        from_number=row.from_number,
        to_number=row.to_number,
        direction=row.direction,
        start_time=row.start_time.replace(tzinfo=UTC),
        answer_time=_aware(row.answer_time),
        end_time=row.end_time.replace(tzinfo=UTC),
        duration_s=row.duration_s,
        billable_s=row.billable_s,
        disposition=row.disposition,
        hangup_cause=row.hangup_cause,
        recorded=bool(row.recorded),
        recording_consent=row.recording_consent or "",
        packets_sent=row.packets_sent,
        packets_received=row.packets_received,
        packets_lost=row.packets_lost,
        jitter_ms=row.jitter_ms,
        node_ids=tuple(row.node_ids or ()),
        recording_requested_by=row.recording_requested_by or "",
        recording_announced_at=_aware(row.recording_announced_at),
        recording_ids=tuple(row.recording_ids or ()),
        recording_objection=row.recording_objection or "",
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else value.date()


class CassandraCdrStore:
    """CDRs in Cassandra. Open with :meth:`open`; share one instance per process."""

    def __init__(
        self,
        conn: CassandraConnection,
        *,
        owns_connection: bool = True,
        max_group: int = DEFAULT_MAX_GROUP,
        vault: Vault | None = None,
    ) -> None:
        self._conn = conn
        self._sealer = CdrSealer(vault) if vault is not None else None
        self._owns = owns_connection
        self._max_group = max_group
        self._group: GroupCommit[tuple[Cdr, SealedNumbers | None]] = GroupCommit(
            conn, self._group_batch, max_items=max_group, on_written=self._written)
        self._seen_days: set[tuple[str, date]] = set()
        self._ps: dict[str, PreparedStatement] = {}

    @classmethod
    async def open(cls, settings: StorageSettings, vault: Vault | None = None) -> CassandraCdrStore:
        """Connect and prepare every statement."""
        store = cls(await connect(settings), vault=vault)
        await store.prepare()
        return store

    async def prepare(self) -> None:
        """Prepare the statements (in a thread: preparing blocks on the network)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        session = self._conn.session
        marks = ", ".join("?" * _N_COLUMNS)
        texts = {
            "ins_day": f"INSERT INTO cdr_by_tenant_day (tenant_id, day, start_time, call_id, "
            f"{COLUMNS}) VALUES (?, ?, ?, ?, {marks})",
            "ins_call": f"INSERT INTO cdr_by_call (call_id, tenant_id, day, start_time, "
            f"{COLUMNS}) VALUES (?, ?, ?, ?, {marks})",
            "ins_tenant_day": "INSERT INTO cdr_tenant_days (tenant_id, day) VALUES (?, ?)",
            "get": "SELECT * FROM cdr_by_call WHERE call_id = ?",
            "days": "SELECT day FROM cdr_tenant_days WHERE tenant_id = ? AND day >= ? AND day <= ?",
            "page": "SELECT * FROM cdr_by_tenant_day WHERE tenant_id = ? AND day = ? "
            "AND start_time >= ? AND start_time < ? LIMIT ?",
            "page_after": "SELECT * FROM cdr_by_tenant_day WHERE tenant_id = ? AND day = ? "
            "AND (start_time) >= (?) AND (start_time, call_id) < (?, ?) LIMIT ?",
            "all_days": "SELECT day FROM cdr_tenant_days WHERE tenant_id = ?",
            "day_calls": "SELECT call_id FROM cdr_by_tenant_day WHERE tenant_id = ? AND day = ?",
            "del_day": "DELETE FROM cdr_by_tenant_day WHERE tenant_id = ? AND day = ?",
            "del_call": "DELETE FROM cdr_by_call WHERE call_id = ?",
            "del_days": "DELETE FROM cdr_tenant_days WHERE tenant_id = ?",
        }
        for name, text in texts.items():
            ps = session.prepare(text)
            ps.consistency_level = self._conn.consistency
            ps.is_idempotent = True  # every statement here may be retried on another node
            self._ps[name] = ps

    async def write(self, cdr: Cdr) -> None:
        """Validate, then write both rows (idempotent by call id); see the module doc."""
        cdr.validate()
        sealed = await self._sealer.seal(cdr) if self._sealer is not None else None
        if self._max_group <= 1:
            await run(self._conn.session, self.write_batch([cdr], [sealed]))
            self._remember_day(cdr.tenant_id, cdr.start_time.date())
            return
        await self._group.submit((cdr, sealed))

    def _group_batch(self, group: list[tuple[Cdr, SealedNumbers | None]]) -> BatchStatement:
        return self.write_batch([cdr for cdr, _ in group], [sealed for _, sealed in group])

    def _written(self, group: list[tuple[Cdr, SealedNumbers | None]]) -> None:
        for cdr, _ in group:
            self._remember_day(cdr.tenant_id, cdr.start_time.date())

    def write_batch(
        self, cdrs: list[Cdr], sealed: list[SealedNumbers | None] | None = None
    ) -> BatchStatement:
        """One UNLOGGED batch writing both rows of each CDR (and new tenant-day markers);
        ``sealed[i]`` is the sealed numbers of ``cdrs[i]`` (None: plain)."""
        batch = BatchStatement(
            batch_type=BatchType.UNLOGGED, consistency_level=self._conn.consistency
        )
        batch.is_idempotent = True
        markers: set[tuple[str, date]] = set()
        for i, cdr in enumerate(cdrs):
            day = cdr.start_time.date()
            start = _naive_utc(cdr.start_time)
            values = record_values(cdr, sealed[i] if sealed is not None else None)
            batch.add(self._ps["ins_day"], [cdr.tenant_id, day, start, cdr.call_id, *values])
            batch.add(self._ps["ins_call"], [cdr.call_id, cdr.tenant_id, day, start, *values])
            key = (cdr.tenant_id, day)
            if key not in self._seen_days and key not in markers:
                markers.add(key)
                batch.add(self._ps["ins_tenant_day"], [cdr.tenant_id, day])
        return batch

    def _remember_day(self, tenant_id: str, day: date) -> None:
        if len(self._seen_days) >= _MAX_SEEN_DAYS:
            self._seen_days.clear()
        self._seen_days.add((tenant_id, day))

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """One CDR of the tenant; ``NotFound`` when absent or another tenant's."""
        check_tenant(tenant_id)
        check_call_id(call_id)
        rows = await run(self._conn.session, self._ps["get"], [call_id])
        row = rows[0] if rows else None
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("no CDR with this call_id for this tenant", error_id="cdr-not-found")
        return await self._decode(row)

    async def _decode(self, row: Any) -> Cdr:
        cdr = _from_row(row)
        sealed = getattr(row, "sealed_numbers", None)
        if sealed is None:
            return cdr
        if self._sealer is None:
            raise FailedPrecondition(
                "this CDR store has sealed records but was opened without the vault",
                error_id="cdr-store-needs-vault",
            )
        return await self._sealer.open(cdr, bytes(sealed))

    async def query(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        number: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> CdrPage:
        """A tenant's CDRs with ``start <= start_time < end``, newest first, paged."""
        q = build_query(tenant_id, start, end, number, page_size, page_token)
        key = number
        if number is not None and self._sealer is not None:
            key = await self._sealer.index(tenant_id, number)
        wanted = q.page_size + 1  # one more than a page tells whether a next page exists
        days = q.days_newest_first()
        if len(days) <= _DIRECT_DAYS:  # reading a day or two directly beats a lookup first
            present = set(days)
        else:
            stored = await run(
                self._conn.session, self._ps["days"], [q.tenant_id, days[-1], days[0]]
            )
            present = {_as_date(r.day) for r in stored}
        found: list[Cdr] = []
        for day in days:
            if day not in present:
                continue
            await self._read_day(q, key, day, wanted, found)
            if len(found) >= wanted:
                break
        records = found[: q.page_size]
        token = ""
        if len(found) > q.page_size:
            token = q.token_after(records[-1].start_time, records[-1].call_id)
        return CdrPage(records=records, next_page_token=token)

    async def _read_day(
        self, q: CdrQuery, key: str | None, day: date, wanted: int, found: list[Cdr]
    ) -> None:
        after = q.after
        lo, hi = _naive_utc(q.start), _naive_utc(q.end)
        chunk = wanted if q.number is None else max(wanted, 500)
        while len(found) < wanted:
            if after is None:
                params = [q.tenant_id, day, lo, hi, chunk]
                rows = await run(self._conn.session, self._ps["page"], params)
            else:
                params = [q.tenant_id, day, lo, _naive_utc(after[0]), after[1], chunk]
                rows = await run(self._conn.session, self._ps["page_after"], params)
            rows = list(rows)
            for row in rows:
                if key is None or key in (row.from_number, row.to_number):
                    found.append(await self._decode(row))
                    if len(found) >= wanted:
                        return
            if len(rows) < chunk:
                return
            last = rows[-1]
            after = (last.start_time.replace(tzinfo=UTC), last.call_id)

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase every CDR of the tenant (both tables); return how many were removed."""
        check_tenant(tenant_id)
        session = self._conn.session
        removed = 0
        for day_row in list(await run(session, self._ps["all_days"], [tenant_id])):
            day = _as_date(day_row.day)
            rows = await _fetch_all(session, self._ps["day_calls"], [tenant_id, day])
            calls = [r.call_id for r in rows]
            for i in range(0, len(calls), _DELETE_CONCURRENCY):
                chunk = calls[i : i + _DELETE_CONCURRENCY]
                await asyncio.gather(*(run(session, self._ps["del_call"], [c]) for c in chunk))
            await run(session, self._ps["del_day"], [tenant_id, day])
            removed += len(calls)
        await run(session, self._ps["del_days"], [tenant_id])
        self._seen_days = {k for k in self._seen_days if k[0] != tenant_id}
        return removed

    async def close(self) -> None:
        """Shut the driver down if this store opened it."""
        if self._owns:
            self._conn.shutdown()


async def _fetch_all(session: Any, statement: Any, params: list[Any]) -> list[Any]:
    """Every row of a statement, all pages (driver paging, in a thread)."""

    def _all() -> list[Any]:
        try:
            return list(session.execute(statement, params))
        except Exception as exc:
            raise unavailable(exc) from exc

    return await asyncio.to_thread(_all)

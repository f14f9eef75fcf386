"""Durable reminders on Cassandra, bucketed by the hour of their due time.

Reminders: rows in ``reminders_by_bucket`` partitioned by the hour of their due time, an
index row per reminder in ``reminder_by_id`` (to move or cancel it), and the list of hours
that may hold reminders in ``reminder_buckets``. ``due`` reads only the listed hours up to
``until``. An hour found empty is unlisted with ``USING TIMESTAMP <time before the read>``:
an upsert writes its reminder row before it lists the hour, so a listing written after our
read carries a later timestamp and survives the delete (clocks of one machine, or NTP). An
hour is only unlisted once it is over, so a store that listed an hour itself skips the
listing write until a minute before the hour ends.

**Scans start at a floor.** A cancelled or moved reminder leaves a row tombstone in its hour,
and a read of ``due <= until`` from the hour's start reads every tombstone below ``until``:
calls cancel two reminders each, so at a sustained 80 calls/s an hour gathers ~576,000, and
a scan over 30,000 of them cost the node 48 ms against 2 ms from a floor (measured); past
``tombstone_failure_threshold`` (100,000) the read fails and no reminder fires. So ``due``
remembers, per hour, the due of the earliest live reminder its last read found (or that
read's ``until`` when it found none) and reads from there minus ``FLOOR_MARGIN_S``: a
reminder written later has a due of at least its writer's "now", which is at least our last
``until`` less the clock skew between hosts and the time from computing a due to its row
landing, both well within the margin. Every ``full_scan_s`` seconds (and for a store that
has not read an hour yet) the read starts at the hour's start, so a reminder written with a
due below that (another clock far off, a turn held longer than the margin) still fires,
late at most by that period; only such a full read unlists an hour found empty.

The fenced state store (:mod:`fabric.storage.cassandra_actor`) writes the same rows with the
state they change; this store moves, cancels and scans them on their own.
"""

from __future__ import annotations

import asyncio
import time

from cassandra import ConsistencyLevel
from cassandra.query import PreparedStatement

from fabric.config import StorageSettings
from fabric.storage.base import Reminder
from fabric.storage.cassandra_session import CassandraConnection, connect, run

BUCKET_S = 3600
SHARD = 0
LIST_MARGIN_S = 60.0  # clock skew between hosts we tolerate at an hour's end
FLOOR_MARGIN_S = 60.0  # how far below its floor a scan reads (see the module docstring)
FULL_SCAN_S = 60.0  # how often a scan reads the listed hours from their start
_STRONG = frozenset({ConsistencyLevel.LOCAL_QUORUM, ConsistencyLevel.QUORUM,
                     ConsistencyLevel.EACH_QUORUM, ConsistencyLevel.ALL})

REMINDER_CQL = {
    "get": "SELECT due FROM reminder_by_id WHERE kind = ? AND key = ? AND name = ?",
    "get_all": "SELECT name, due FROM reminder_by_id WHERE kind = ? AND key = ?",
    "put_id": "INSERT INTO reminder_by_id (kind, key, name, due) VALUES (?, ?, ?, ?)",
    "del_id": "DELETE FROM reminder_by_id WHERE kind = ? AND key = ? AND name = ?",
    "put_row": "INSERT INTO reminders_by_bucket (bucket, due, kind, key, name) "
    "VALUES (?, ?, ?, ?, ?)",
    "del_row": "DELETE FROM reminders_by_bucket WHERE bucket = ? AND due = ? "
    "AND kind = ? AND key = ? AND name = ?",
    "list": "INSERT INTO reminder_buckets (shard, bucket) VALUES (?, ?)",
    "buckets": "SELECT bucket FROM reminder_buckets WHERE shard = ? AND bucket <= ?",
    "unlist": "DELETE FROM reminder_buckets USING TIMESTAMP ? WHERE shard = ? AND bucket = ?",
    "scan": "SELECT due, kind, key, name FROM reminders_by_bucket "
    "WHERE bucket = ? AND due <= ? LIMIT ?",
    "scan_from": "SELECT due, kind, key, name FROM reminders_by_bucket "
    "WHERE bucket = ? AND due >= ? AND due <= ? LIMIT ?",
}


def bucket_of(due: float) -> int:
    """The hour bucket of a due time (unix seconds)."""
    return int(due // BUCKET_S)


def strong(consistency: int) -> int:
    """``consistency`` if it is a quorum (or stronger), else LOCAL_QUORUM."""
    return consistency if consistency in _STRONG else ConsistencyLevel.LOCAL_QUORUM


class Prepared:
    """Prepared statements by name, each at the connection's consistency (or a quorum,
    or LOCAL_SERIAL, for the names given)."""

    def __init__(self, conn: CassandraConnection) -> None:
        self._conn = conn
        self._ps: dict[str, PreparedStatement] = {}

    def prepare(
        self,
        texts: dict[str, str],
        serial: frozenset[str] = frozenset(),
        quorum: frozenset[str] = frozenset(),
    ) -> None:
        """Prepare each statement of ``texts`` (blocking: call it in a thread)."""
        for name, text in texts.items():
            ps = self._conn.session.prepare(text)
            ps.consistency_level = self._conn.consistency
            ps.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            if name in quorum:
                ps.consistency_level = strong(self._conn.consistency)
            if name in serial:
                ps.consistency_level = ConsistencyLevel.LOCAL_SERIAL
            self._ps[name] = ps

    def __getitem__(self, name: str) -> PreparedStatement:
        return self._ps[name]


class CassandraReminderStore:
    """Reminders bucketed by hour of due time."""

    def __init__(
        self, conn: CassandraConnection, *, owns_connection: bool = True,
        full_scan_s: float = FULL_SCAN_S,
    ) -> None:
        self._conn = conn
        self._owns = owns_connection
        self._ps = Prepared(conn)
        self.full_scan_s = full_scan_s
        self._floors: dict[int, float] = {}  # hour -> earliest live due seen (see module doc)
        self._full_at: float | None = None  # monotonic time of the last full scan

    async def prepare(self) -> None:
        """Prepare the statements (in a thread: preparing blocks on the network)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        self._ps.prepare(REMINDER_CQL)

    @classmethod
    async def open(cls, settings: StorageSettings) -> CassandraReminderStore:
        """Connect and prepare."""
        store = cls(await connect(settings))
        await store.prepare()
        return store

    async def _current_due(self, kind: str, key: str, name: str) -> float | None:
        rows = await run(self._conn.session, self._ps["get"], [kind, key, name])
        return float(rows[0].due) if rows else None

    async def upsert(self, reminder: Reminder) -> None:
        """Create or move a reminder."""
        r = reminder
        due = float(r.due)
        session = self._conn.session
        old = await self._current_due(r.kind, r.key, r.name)
        bucket = bucket_of(due)
        await run(session, self._ps["put_row"], [bucket, due, r.kind, r.key, r.name])
        await run(session, self._ps["put_id"], [r.kind, r.key, r.name, due])
        await run(session, self._ps["list"], [SHARD, bucket])  # after the row: see module doc
        if old is not None and old != due:
            await run(session, self._ps["del_row"], [bucket_of(old), old, r.kind, r.key, r.name])

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """Remove a reminder if present."""
        old = await self._current_due(kind, key, name)
        if old is None:
            return
        session = self._conn.session
        await run(session, self._ps["del_row"], [bucket_of(old), old, kind, key, name])
        await run(session, self._ps["del_id"], [kind, key, name])

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Reminders due at or before ``until``, earliest first (each hour read from its
        floor, or from its start at a full scan: see the module docstring)."""
        session = self._conn.session
        last = bucket_of(until)
        read_at = int(time.time() * 1_000_000) - 1
        now = time.monotonic()
        full = self._full_at is None or now - self._full_at >= self.full_scan_s
        if full:
            self._full_at = now
        listed = await run(session, self._ps["buckets"], [SHARD, last])
        found: list[Reminder] = []
        for row in listed:
            bucket = int(row.bucket)
            floor = None if full else self._floors.get(bucket)
            n = limit - len(found)
            if floor is None:
                rows = await run(session, self._ps["scan"], [bucket, float(until), n])
            else:
                rows = await run(session, self._ps["scan_from"],
                                 [bucket, floor - FLOOR_MARGIN_S, float(until), n])
            if not rows and bucket < last and floor is None:  # a full read found it empty
                await run(session, self._ps["unlist"], [read_at, SHARD, bucket])
                self._floors.pop(bucket, None)
            else:
                self._floors[bucket] = float(rows[0].due) if rows else float(until)
            found.extend(Reminder(kind=r.kind, key=r.key, name=r.name, due=r.due) for r in rows)
            if len(found) >= limit:
                break
        found.sort(key=lambda r: (r.due, r.kind, r.key, r.name))
        return found[:limit]

    async def close(self) -> None:
        """Shut the driver down if this store opened it."""
        if self._owns:
            self._conn.shutdown()

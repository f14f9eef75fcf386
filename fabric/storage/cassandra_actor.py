"""Actor state and reminders on Cassandra.

State: ``actor_state`` rows written only by lightweight transactions (``IF NOT EXISTS`` /
``IF version = ?`` / ``IF EXISTS``), read at LOCAL_SERIAL, so the compare-and-set holds
across hosts and a read never misses a committed save. A CAS whose outcome is unknown (a
write timeout of type CAS) is resolved by reading back: our data at the new version means
it applied.

Reminders: rows in ``reminders_by_bucket`` partitioned by the hour of their due time, an
index row per reminder in ``reminder_by_id`` (to move or cancel it), and the list of hours
that may hold reminders in ``reminder_buckets``. ``due`` reads only the listed hours up to
``until``. An hour found empty is unlisted with ``USING TIMESTAMP <time before the read>``:
an upsert writes its reminder row before it lists the hour, so a listing written after our
read carries a later timestamp and survives the delete (clocks of one machine, or NTP).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cassandra import ConsistencyLevel, WriteTimeout
from cassandra.query import PreparedStatement

from fabric.config import StorageSettings
from fabric.errors import Unavailable
from fabric.storage.base import Reminder, StoredState
from fabric.storage.cassandra_session import CassandraConnection, aexecute, connect, run
from fabric.storage.sqlite_actor import check_version, conflict

BUCKET_S = 3600
_SHARD = 0


def bucket_of(due: float) -> int:
    """The hour bucket of a due time (unix seconds)."""
    return int(due // BUCKET_S)


class _Prepared:
    def __init__(self, conn: CassandraConnection) -> None:
        self._conn = conn
        self._ps: dict[str, PreparedStatement] = {}

    def prepare(self, texts: dict[str, str], serial: frozenset[str] = frozenset()) -> None:
        for name, text in texts.items():
            ps = self._conn.session.prepare(text)
            ps.consistency_level = self._conn.consistency
            ps.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            if name in serial:
                ps.consistency_level = ConsistencyLevel.LOCAL_SERIAL
            self._ps[name] = ps

    def __getitem__(self, name: str) -> PreparedStatement:
        return self._ps[name]


class CassandraStateStore:
    """Actor state with LWT compare-and-set on ``version``."""

    def __init__(self, conn: CassandraConnection, *, owns_connection: bool = True) -> None:
        self._conn = conn
        self._owns = owns_connection
        self._ps = _Prepared(conn)

    async def prepare(self) -> None:
        """Prepare the statements (in a thread: preparing blocks on the network)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        self._ps.prepare(
            {
                "load": "SELECT data, version FROM actor_state WHERE kind = ? AND key = ?",
                "insert": "INSERT INTO actor_state (kind, key, data, version) "
                "VALUES (?, ?, ?, 1) IF NOT EXISTS",
                "update": "UPDATE actor_state SET data = ?, version = ? "
                "WHERE kind = ? AND key = ? IF version = ?",
                "delete": "DELETE FROM actor_state WHERE kind = ? AND key = ? IF EXISTS",
            },
            serial=frozenset({"load"}),
        )

    @classmethod
    async def open(cls, settings: StorageSettings) -> CassandraStateStore:
        """Connect and prepare."""
        store = cls(await connect(settings))
        await store.prepare()
        return store

    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state (serial read), or None."""
        rows = await run(self._conn.session, self._ps["load"], [kind, key])
        row = rows[0] if rows else None
        return None if row is None else StoredState(bytes(row.data or b""), int(row.version))

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Compare-and-set on the version; return the new version."""
        check_version(expected_version)
        payload = bytes(data)
        new_version = expected_version + 1
        params: list[Any]
        if expected_version == 0:
            statement, params = self._ps["insert"], [kind, key, payload]
        else:
            statement = self._ps["update"]
            params = [payload, new_version, kind, key, expected_version]
        try:
            rows = await aexecute(self._conn.session, statement, params)
        except WriteTimeout as exc:
            return await self._resolve_unknown(kind, key, payload, expected_version, exc)
        except Exception as exc:
            raise Unavailable(
                f"Cassandra did not complete the state save ({type(exc).__name__}); retry",
                error_id="cassandra-unavailable",
            ) from exc
        row = rows[0]
        if row.applied:
            return new_version
        current = getattr(row, "version", None)
        raise conflict(kind, None if current is None else int(current), expected_version)

    async def _resolve_unknown(
        self, kind: str, key: str, payload: bytes, expected: int, exc: Exception
    ) -> int:
        stored = await self.load(kind, key)
        if stored is not None and stored.version == expected + 1 and stored.data == payload:
            return expected + 1
        if stored is None or stored.version != expected:
            raise conflict(kind, None if stored is None else stored.version, expected) from exc
        raise Unavailable(
            "the state save timed out and did not apply; retry", error_id="cassandra-unavailable"
        ) from exc

    async def delete(self, kind: str, key: str) -> None:
        """Forget the state (no error if absent)."""
        await run(self._conn.session, self._ps["delete"], [kind, key])

    async def close(self) -> None:
        """Shut the driver down if this store opened it."""
        if self._owns:
            self._conn.shutdown()


class CassandraReminderStore:
    """Reminders bucketed by hour of due time."""

    def __init__(self, conn: CassandraConnection, *, owns_connection: bool = True) -> None:
        self._conn = conn
        self._owns = owns_connection
        self._ps = _Prepared(conn)

    async def prepare(self) -> None:
        """Prepare the statements (in a thread: preparing blocks on the network)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        self._ps.prepare(
            {
                "get": "SELECT due FROM reminder_by_id WHERE kind = ? AND key = ? AND name = ?",
                "put_id": "INSERT INTO reminder_by_id (kind, key, name, due) VALUES (?, ?, ?, ?)",
                "del_id": "DELETE FROM reminder_by_id WHERE kind = ? AND key = ? AND name = ?",
                "put_row": "INSERT INTO reminders_by_bucket (bucket, due, kind, key, name) "
                "VALUES (?, ?, ?, ?, ?)",
                "del_row": "DELETE FROM reminders_by_bucket WHERE bucket = ? AND due = ? "
                "AND kind = ? AND key = ? AND name = ?",
                "list": "INSERT INTO reminder_buckets (shard, bucket) VALUES (?, ?)",
                "buckets": "SELECT bucket FROM reminder_buckets WHERE shard = ? AND bucket <= ?",
                "unlist": "DELETE FROM reminder_buckets USING TIMESTAMP ? "
                "WHERE shard = ? AND bucket = ?",
                "scan": "SELECT due, kind, key, name FROM reminders_by_bucket "
                "WHERE bucket = ? AND due <= ? LIMIT ?",
            }
        )

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
        await run(session, self._ps["list"], [_SHARD, bucket])  # after the row: see module doc
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
        """Reminders due at or before ``until``, earliest first."""
        session = self._conn.session
        last = bucket_of(until)
        read_at = int(time.time() * 1_000_000) - 1
        listed = await run(session, self._ps["buckets"], [_SHARD, last])
        found: list[Reminder] = []
        for row in listed:
            bucket = int(row.bucket)
            rows = await run(session, self._ps["scan"], [bucket, float(until), limit - len(found)])
            if not rows and bucket < last:
                await run(session, self._ps["unlist"], [read_at, _SHARD, bucket])
            found.extend(Reminder(kind=r.kind, key=r.key, name=r.name, due=r.due) for r in rows)
            if len(found) >= limit:
                break
        found.sort(key=lambda r: (r.due, r.kind, r.key, r.name))
        return found[:limit]

    async def close(self) -> None:
        """Shut the driver down if this store opened it."""
        if self._owns:
            self._conn.shutdown()

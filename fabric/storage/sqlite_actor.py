"""Embedded actor state and reminders: one SQLite file shared by every process of a machine.

State saves are a compare-and-set on ``version`` done in one ``UPDATE ... WHERE version = ?``
(or an ``INSERT`` that fails on an existing row), so two activations racing in two
processes cannot both win. Reminders are rows keyed by (kind, key, name) with an index on
``due``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.base import Reminder, StoredState
from fabric.storage.sqlite_db import SqliteDb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actor_state (
    kind TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS reminder (
    kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, due REAL NOT NULL,
    PRIMARY KEY (kind, key, name));
CREATE INDEX IF NOT EXISTS reminder_by_due ON reminder (due, kind, key, name);
"""


def check_version(expected_version: int) -> None:
    """Refuse a negative expected version."""
    if not isinstance(expected_version, int) or expected_version < 0:
        raise InvalidArgument(
            "expected_version must be >= 0 (0 = not stored yet)", error_id="state-bad-version"
        )


def conflict(kind: str, current: int | None, expected: int) -> FailedPrecondition:
    """The error of a lost compare-and-set."""
    stored = "nothing" if current is None else f"version {current}"
    return FailedPrecondition(
        f"state of {kind} actor changed: stored {stored}, expected version {expected}; "
        "another activation wrote first",
        error_id="state-version-conflict",
    )


def open_actor_db(path: Path) -> SqliteDb:
    """The shared file holding both actor state and reminders."""
    return SqliteDb(path, _SCHEMA)


class SqliteStateStore:
    """Actor state in the shared SQLite file."""

    def __init__(self, db: SqliteDb, *, owns_db: bool = True) -> None:
        self._db = db
        self._owns_db = owns_db

    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state, or None."""
        row = await self._db.run(
            lambda c: c.execute(
                "SELECT data, version FROM actor_state WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        )
        return None if row is None else StoredState(bytes(row[0]), int(row[1]))

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Compare-and-set on the version; return the new version."""
        check_version(expected_version)
        payload = bytes(data)

        def _save(c: sqlite3.Connection) -> int:
            if expected_version == 0:
                cur = c.execute(
                    "INSERT INTO actor_state (kind, key, data, version) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (kind, key) DO NOTHING",
                    (kind, key, payload),
                )
            else:
                cur = c.execute(
                    "UPDATE actor_state SET data = ?, version = ? "
                    "WHERE kind = ? AND key = ? AND version = ?",
                    (payload, expected_version + 1, kind, key, expected_version),
                )
            if cur.rowcount == 1:
                return expected_version + 1
            row = c.execute(
                "SELECT version FROM actor_state WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            raise conflict(kind, None if row is None else int(row[0]), expected_version)

        return await self._db.run(_save)

    async def delete(self, kind: str, key: str) -> None:
        """Forget the state (no error if absent)."""
        await self._db.run(
            lambda c: c.execute("DELETE FROM actor_state WHERE kind = ? AND key = ?", (kind, key))
        )

    async def close(self) -> None:
        """Close the file if this store owns it."""
        if self._owns_db:
            await self._db.close()


class SqliteReminderStore:
    """Reminders in the shared SQLite file."""

    def __init__(self, db: SqliteDb, *, owns_db: bool = True) -> None:
        self._db = db
        self._owns_db = owns_db

    async def upsert(self, reminder: Reminder) -> None:
        """Create or move a reminder."""
        r = reminder
        await self._db.run(
            lambda c: c.execute(
                "INSERT INTO reminder (kind, key, name, due) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, key, name) DO UPDATE SET due = excluded.due",
                (r.kind, r.key, r.name, float(r.due)),
            )
        )

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """Remove a reminder if present."""
        await self._db.run(
            lambda c: c.execute(
                "DELETE FROM reminder WHERE kind = ? AND key = ? AND name = ?", (kind, key, name)
            )
        )

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Reminders due at or before ``until``, earliest first."""
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT kind, key, name, due FROM reminder WHERE due <= ? "
                "ORDER BY due, kind, key, name LIMIT ?",
                (float(until), int(limit)),
            ).fetchall()
        )
        return [Reminder(kind=r[0], key=r[1], name=r[2], due=float(r[3])) for r in rows]

    async def close(self) -> None:
        """Close the file if this store owns it."""
        if self._owns_db:
            await self._db.close()

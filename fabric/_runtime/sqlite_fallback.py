"""A shared-file StateStore/ReminderStore used only when ``fabric.storage.factory`` is absent.

The storage package owns the real embedded backend; this fallback lets the Ray runtime and
its integration tests run across processes before (or without) it. One SQLite file in WAL
mode with a busy timeout is safe for several processes on one machine. Calls are made
synchronously on the event loop: an indexed SQLite read or write on a local disk takes
tens of microseconds, less than a hop to a thread pool.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fabric.errors import FailedPrecondition, Unavailable
from fabric.storage.base import Reminder, StoredState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actor_state (
    kind TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS actor_reminder (
    kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, due REAL NOT NULL,
    PRIMARY KEY (kind, key, name));
CREATE INDEX IF NOT EXISTS actor_reminder_due ON actor_reminder (due);
"""


class SqliteRuntimeStore:
    """Actor state and reminders in one SQLite file (implements both protocols)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable(
                f"cannot open the runtime store {path}: {exc}", error_id="runtime-store-open"
            ) from exc

    # StateStore
    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state, or None."""
        row = self._db.execute(
            "SELECT data, version FROM actor_state WHERE kind=? AND key=?", (kind, key)
        ).fetchone()
        return StoredState(bytes(row[0]), int(row[1])) if row else None

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Compare-and-set on the version."""
        if expected_version == 0:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO actor_state (kind, key, data, version) VALUES (?,?,?,1)",
                (kind, key, data),
            )
        else:
            cur = self._db.execute(
                "UPDATE actor_state SET data=?, version=version+1 "
                "WHERE kind=? AND key=? AND version=?",
                (data, kind, key, expected_version),
            )
        if cur.rowcount != 1:
            raise FailedPrecondition(
                f"state of {kind} actor changed since version {expected_version}; "
                "another activation wrote first",
                error_id="state-version-conflict",
            )
        return expected_version + 1

    async def delete(self, kind: str, key: str) -> None:
        """Forget the state."""
        self._db.execute("DELETE FROM actor_state WHERE kind=? AND key=?", (kind, key))

    # ReminderStore
    async def upsert(self, reminder: Reminder) -> None:
        """Create or move a reminder."""
        self._db.execute(
            "INSERT INTO actor_reminder (kind, key, name, due) VALUES (?,?,?,?) "
            "ON CONFLICT (kind, key, name) DO UPDATE SET due=excluded.due",
            (reminder.kind, reminder.key, reminder.name, reminder.due),
        )

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """Remove a reminder."""
        self._db.execute(
            "DELETE FROM actor_reminder WHERE kind=? AND key=? AND name=?", (kind, key, name)
        )

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Reminders due at or before ``until``, earliest first."""
        rows = self._db.execute(
            "SELECT kind, key, name, due FROM actor_reminder WHERE due <= ? "
            "ORDER BY due, kind, key, name LIMIT ?",
            (until, limit),
        ).fetchall()
        return [Reminder(r[0], r[1], r[2], float(r[3])) for r in rows]

    async def close(self) -> None:
        """Close the file."""
        self._db.close()

"""In-memory StateStore and ReminderStore for unit tests and the LocalActorSystem.

They implement the contracts of :mod:`fabric.storage.base` exactly (CAS on version,
``FailedPrecondition`` on a mismatch, reminders due earliest first) so that a domain actor
tested against them behaves the same on SQLite or Cassandra. Nothing survives the process.
"""

from __future__ import annotations

import heapq

from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.base import Reminder, StoredState


class MemoryStateStore:
    """Actor state in a dict keyed by (kind, key)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], StoredState] = {}

    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state, or None."""
        return self._rows.get((kind, key))

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Compare-and-set on the version; return the new version."""
        if expected_version < 0:
            raise InvalidArgument(
                "expected_version must be >= 0 (0 = not stored yet)",
                error_id="state-bad-version",
            )
        current = self._rows.get((kind, key))
        current_version = current.version if current else 0
        if current_version != expected_version:
            raise FailedPrecondition(
                f"state of {kind} actor changed: stored version {current_version}, "
                f"expected {expected_version}; another activation wrote first",
                error_id="state-version-conflict",
            )
        self._rows[(kind, key)] = StoredState(bytes(data), expected_version + 1)
        return expected_version + 1

    async def delete(self, kind: str, key: str) -> None:
        """Forget the state (no error if absent)."""
        self._rows.pop((kind, key), None)

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._rows)


class MemoryReminderStore:
    """Reminders in a dict keyed by (kind, key, name)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], Reminder] = {}

    async def upsert(self, reminder: Reminder) -> None:
        """Create or move a reminder."""
        self._rows[(reminder.kind, reminder.key, reminder.name)] = reminder

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """Remove a reminder if present."""
        self._rows.pop((kind, key, name), None)

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Reminders due at or before ``until``, earliest first."""
        due = (r for r in self._rows.values() if r.due <= until)
        return heapq.nsmallest(limit, due, key=lambda r: (r.due, r.kind, r.key, r.name))

    async def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._rows)

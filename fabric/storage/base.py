"""The storage contracts every backend implements.

All methods are async. Backends raise :mod:`fabric.errors` errors: ``InvalidArgument`` for a
record that fails validation (nothing written), ``Unavailable`` when the database cannot be
reached, ``NotFound`` for a missing record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from fabric.cdr import Cdr


@dataclass(frozen=True, slots=True)
class CdrPage:
    """One page of a tenant's CDRs, newest first, and the token for the next page."""

    records: list[Cdr]
    next_page_token: str  # empty when there is no next page


@runtime_checkable
class CdrStore(Protocol):
    """Where call detail records live: one row per call id, kept 7 years."""

    async def write(self, cdr: Cdr) -> None:
        """Write a CDR; idempotent by ``call_id`` (a retry leaves one row)."""
        ...

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """Return one CDR of ``tenant_id``; ``NotFound`` if absent or another tenant's."""
        ...

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
        """A tenant's CDRs with ``start <= start_time < end``, optionally touching ``number``."""
        ...

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase every CDR of a tenant (a deletion request); return how many were removed."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class StoredState:
    """An actor's persisted state: opaque bytes (a serialized protobuf) and its version."""

    data: bytes
    version: int


@runtime_checkable
class StateStore(Protocol):
    """Persisted state of virtual actors, keyed by (kind, key).

    ``save`` is a compare-and-set on ``version``: it succeeds only when the stored version
    equals ``expected_version`` (0 = not stored yet) and then stores ``expected_version + 1``.
    A mismatch raises ``FailedPrecondition`` (another activation wrote first).
    """

    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state, or None when the actor has none."""
        ...

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Store ``data`` if the version matches; return the new version."""
        ...

    async def delete(self, kind: str, key: str) -> None:
        """Forget the actor's state."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class Reminder:
    """A durable timer: at ``due`` (unix seconds) the actor (kind, key) gets ``name``."""

    kind: str
    key: str
    name: str
    due: float


@runtime_checkable
class ReminderStore(Protocol):
    """Durable reminders that survive passivation and the loss of a host."""

    async def upsert(self, reminder: Reminder) -> None:
        """Create or move a reminder (same kind, key and name)."""
        ...

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """Remove a reminder if it exists."""
        ...

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Reminders whose ``due`` is at or before ``until``, earliest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

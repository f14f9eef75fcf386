"""The storage contracts every backend implements.

All methods are async. Backends raise :mod:`fabric.errors` errors: ``InvalidArgument`` for a
record that fails validation (nothing written), ``Unavailable`` when the database cannot be
reached, ``NotFound`` for a missing record.
"""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(slots=True)
class Fence:
    """One activation's claim on an actor's state (see :class:`FencedStateStore`).

    ``epoch`` orders claims: every claim of (kind, key) gets a larger epoch than every
    earlier one. ``seq`` counts this activation's writes; ``version`` is the version it last
    loaded or wrote; ``lease_until`` (the store's monotonic clock) is when its lease on the
    actor lapses, 0 = no lease. ``fresh``: no claim of the actor was on record (none in the
    store's claim retention), so nothing was written through a fence since a read made
    just before the claim. The store updates them; the runtime only holds the fence.
    """

    kind: str
    key: str
    epoch: int
    seq: int = 0
    version: int = 0
    lease_until: float = 0.0
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class ReminderChange:
    """A reminder set (``due`` in unix seconds) or cancelled (``due`` None) within a write.

    ``previous`` is the due time stored before the change (None = none stored), which the
    writer knows because it read the actor's reminders once (:meth:`FencedStateStore.reminders_of`).
    """

    name: str
    due: float | None
    previous: float | None


@runtime_checkable
class FencedStateStore(StateStore, Protocol):
    """A state store whose writes are fenced by claims instead of a compare-and-set each.

    An activation claims the actor once (:meth:`claim`), then loads; each later write is
    a plain write that loses to every write of a later claim, and fails with
    ``FailedPrecondition`` (error id ``state-claim-lost``) once a later claim exists, so a
    stale activation finds out at its next write and deactivates. The reminders that change
    with a state write go in the same write. ``save`` (compare-and-set) still works for
    callers outside the runtime; one (kind, key) is written one way only.
    """

    async def claim(self, kind: str, key: str) -> Fence:
        """Claim (kind, key) for a new activation: a fence newer than every earlier one."""
        ...

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        """Store ``data`` (None = forget the state) and the reminder changes together.

        Returns the new version (0 after forgetting). ``FailedPrecondition`` when a later
        claim exists: the write may be lost, the activation must not go on.
        """
        ...

    async def change_reminders(
        self, kind: str, key: str, reminders: tuple[ReminderChange, ...]
    ) -> None:
        """Apply reminder changes of a turn that wrote no state, in one write."""
        ...

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        """The actor's stored reminders: name -> due (unix seconds)."""
        ...

    async def release(self, fence: Fence) -> None:
        """Give the claim up (the activation ends) so the next one need not wait for it."""
        ...

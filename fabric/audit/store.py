"""Where audit entries are kept: the :class:`AuditStore` protocol and an in-memory store.

A store appends entries (never updates or deletes one), keeps each stream's head (its last
seq and hash, so removing the newest entries is detected too), lists a log newest first
with filters and paging, and reads a whole log in chain order for ``verify`` and exports.
Backends: :mod:`fabric.audit.sqlite_store` (embedded) and :mod:`fabric.audit.cassandra_store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fabric.audit.entry import AuditEntry
from fabric.errors import InvalidArgument

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of a listing (empty = any); times in microseconds since the epoch."""

    since_us: int = 0
    until_us: int = 0  # 0 = now
    principal: str = ""
    method: str = ""
    object_class: str = ""
    outcome: str = ""
    limit: int = 100
    page_token: str = ""

    def matches(self, e: AuditEntry) -> bool:
        """Whether ``e`` passes the filters (not the time range or paging)."""
        return ((not self.principal or e.principal == self.principal)
                and (not self.method or e.method == self.method
                     or e.method.endswith("/" + self.method))
                and (not self.object_class or e.object_class == self.object_class)
                and (not self.outcome or e.outcome == self.outcome))

    def checked(self) -> AuditQuery:
        """INVALID_ARGUMENT on a bad limit or range."""
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be 1 to {MAX_PAGE}", error_id="invalid-limit")
        if self.until_us and self.since_us > self.until_us:
            raise InvalidArgument("since must not be after until", error_id="invalid-range")
        return self


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of a listing, newest first; ``next_page_token`` empty on the last."""

    entries: list[AuditEntry]
    next_page_token: str = ""


def cursor_of(e: AuditEntry) -> str:
    """The page token that continues after ``e``."""
    return f"{e.at_us}:{e.stream}:{e.seq}"


def parse_cursor(token: str) -> tuple[int, str, int] | None:
    """(at_us, stream, seq) of a page token, None for ''; INVALID_ARGUMENT when garbled."""
    if not token:
        return None
    try:
        at, stream, seq = token.split(":")
        return int(at), stream, int(seq)
    except ValueError:
        raise InvalidArgument("page_token is not one this service returned",
                              error_id="invalid-page-token") from None


def sort_key(e: AuditEntry) -> tuple[int, str, int]:
    """Newest-first order of a listing is descending on this key."""
    return e.at_us, e.stream, e.seq


@runtime_checkable
class AuditStore(Protocol):
    """Append-only storage of audit logs."""

    async def append(self, entry: AuditEntry) -> None:
        """Add a sealed entry and move its stream's head to it."""
        ...

    async def append_many(self, entries: list[AuditEntry]) -> None:
        """:meth:`append` for several entries in one write (all or none where possible)."""
        ...

    async def query(self, log_id: str, query: AuditQuery) -> AuditPage:
        """A page of the log, newest first."""
        ...

    def entries(self, log_id: str) -> AsyncIterator[AuditEntry]:
        """Every entry of the log, by stream then seq."""
        ...

    async def heads(self, log_id: str) -> dict[str, tuple[int, str]]:
        """Each stream's last (seq, hash)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def page_of(candidates: list[AuditEntry], query: AuditQuery, now_us: int) -> AuditPage:
    """Filter, order and cut a page from ``candidates`` (a backend's rows in range)."""
    after = parse_cursor(query.page_token)
    until = query.until_us or now_us
    rows = sorted((e for e in candidates
                   if query.since_us <= e.at_us <= until and query.matches(e)
                   and (after is None or sort_key(e) < after)), key=sort_key, reverse=True)
    page = rows[:query.limit]
    more = len(rows) > query.limit
    return AuditPage(page, cursor_of(page[-1]) if more and page else "")


class MemoryAuditStore:
    """Audit logs in memory (unit tests)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[AuditEntry]] = {}
        self.head: dict[tuple[str, str], tuple[int, str]] = {}

    async def append(self, entry: AuditEntry) -> None:
        """Add the entry and move its stream's head."""
        self.rows.setdefault(entry.log_id, []).append(entry)
        self.head[(entry.log_id, entry.stream)] = (entry.seq, entry.hash)

    async def append_many(self, entries: list[AuditEntry]) -> None:
        """Add each entry."""
        for entry in entries:
            await self.append(entry)

    async def query(self, log_id: str, query: AuditQuery) -> AuditPage:
        """A page of the log, newest first."""
        import time

        return page_of(self.rows.get(log_id, []), query.checked(), int(time.time() * 1e6))

    async def entries(self, log_id: str) -> AsyncIterator[AuditEntry]:
        """Every entry, by stream then seq."""
        for e in sorted(self.rows.get(log_id, []), key=lambda e: (e.stream, e.seq)):
            yield e

    async def heads(self, log_id: str) -> dict[str, tuple[int, str]]:
        """Each stream's last (seq, hash)."""
        return {s: h for (lid, s), h in self.head.items() if lid == log_id}

    async def close(self) -> None:
        """Nothing to release."""

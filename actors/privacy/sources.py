"""Where an export or an erasure reads a tenant's data, one data class at a time.

- CDRs: the CDR store (:class:`fabric.storage.base.CdrStore`), the whole tenant or the
  subject's numbers (a user's extensions; an outside number through the blind index).
- Message detail records: the SMS records store when the process has one (``Stores.mdr``:
  any object with ``list(tenant_id, since_ms, until_ms, limit)`` newest first), else none.
- Content (voicemail, recordings, transcripts, SMS bodies): the vault's
  :class:`~fabric.vault.content.ContentStore`, listed per class, so every class is covered
  as soon as objects of it exist. A transcript belongs to whoever its ``parent`` belongs to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from actors.privacy.subjects import Subject
from fabric.audit.store import AuditStore
from fabric.cdr import Cdr
from fabric.storage.base import CdrStore
from fabric.vault.content import (
    RECORDING,
    SMS_BODY,
    TRANSCRIPT,
    VOICEMAIL,
    ContentInfo,
    ContentStore,
)

PAGE = 1000
CONTENT_ORDER = (VOICEMAIL, RECORDING, TRANSCRIPT, SMS_BODY)
"""The content classes in the order exports list them."""


class MdrSource(Protocol):
    """What the privacy service needs of the message detail record store."""

    async def list(
        self, tenant_id: str, since_ms: int, until_ms: int, limit: int = 100
    ) -> list[Any]:
        """Records with ``since_ms <= sent_at_ms < until_ms``, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Sources:
    """The stores a privacy operation reads (one process's)."""

    cdr: CdrStore
    content: ContentStore
    mdr: MdrSource | None = None
    audit: AuditStore | None = None  # the tenant's audit log goes into a tenant export


def _dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


async def cdrs(
    src: Sources, tenant_id: str, since_ms: int, until_ms: int, subject: Subject | None
) -> AsyncIterator[Cdr]:
    """The tenant's (or the subject's) CDRs started in [since, until), newest first."""
    start, end = _dt(since_ms), _dt(until_ms)
    numbers: tuple[str | None, ...] = (None,) if subject is None else subject.cdr_numbers
    if len(numbers) <= 1:
        for number in numbers:
            async for cdr in _pages(src.cdr, tenant_id, start, end, number):
                yield cdr
        return
    found: dict[str, Cdr] = {}  # a call between two of a user's extensions is listed once
    for number in numbers:
        async for cdr in _pages(src.cdr, tenant_id, start, end, number):
            found[cdr.call_id] = cdr
    for cdr in sorted(found.values(), key=lambda c: (c.start_time, c.call_id), reverse=True):
        yield cdr


async def _pages(
    store: CdrStore, tenant_id: str, start: datetime, end: datetime, number: str | None
) -> AsyncIterator[Cdr]:
    token = ""
    while True:
        page = await store.query(
            tenant_id, start, end, number=number, page_size=PAGE, page_token=token
        )
        for cdr in page.records:
            yield cdr
        token = page.next_page_token
        if not token or not page.records:
            return


def mdr_dict(record: Any) -> dict[str, Any]:
    """A message detail record as a JSON-ready dict."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return dict(vars(record))


async def mdrs(
    src: Sources, tenant_id: str, since_ms: int, until_ms: int, subject: Subject | None
) -> AsyncIterator[dict[str, Any]]:
    """The tenant's (or the subject's) message records sent in [since, until), newest first."""
    if src.mdr is None:
        return
    seen: set[str] = set()
    until = until_ms
    while True:
        page = await src.mdr.list(tenant_id, since_ms, until, PAGE)
        fresh = 0
        for record in page:
            row = mdr_dict(record)
            key = f"{row.get('message_id')}/{row.get('direction')}"
            if key in seen:
                continue
            seen.add(key)
            fresh += 1
            if subject is None or not subject.names.isdisjoint(
                (str(row.get("from_number")), str(row.get("to_number")))
            ):
                yield row
        if len(page) < PAGE or not fresh:
            return
        until = int(mdr_dict(page[-1]).get("sent_at_ms", 0)) + 1  # ties: seen skips them


async def objects(
    src: Sources, tenant_id: str, data_class: str, subject: Subject | None, as_of: float,
    parents: frozenset[str] = frozenset(),
) -> list[ContentInfo]:
    """The live objects of a class created at or before ``as_of`` (the subject's only, or
    transcripts whose parent is in ``parents``), by object id."""
    out = []
    for info in await src.content.list(tenant_id, data_class):
        if info.created > as_of:
            continue
        if subject is None or subject.owns(info.metadata) or (
            info.metadata.get("parent", "") in parents
        ):
            out.append(info)
    return out


async def subject_objects(
    src: Sources, tenant_id: str, subject: Subject | None, as_of: float
) -> dict[str, list[ContentInfo]]:
    """Every content class's objects of the subject (or tenant), in export order."""
    out: dict[str, list[ContentInfo]] = {}
    owned: set[str] = set()
    for data_class in CONTENT_ORDER:
        found = await objects(src, tenant_id, data_class, subject, as_of, frozenset(owned))
        owned.update(i.object_id for i in found)
        out[data_class] = found
    return out

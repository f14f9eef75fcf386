"""A conversation's history, bounded: a live tail in the actor's state, older messages in pages.

The conversation's state (sealed at rest, rewritten on every message) keeps only the newest
messages: when the tail reaches :data:`TAIL_MAX`, its oldest :data:`PAGE_MESSAGES` move into
a **page**, an immutable object of the vault's content store (class ``sms-page``, sealed with
its own data key like a body; object id ``p.<conversation index>.<n>``), and the state keeps
a small reference to it (seq range, count, unread count, newest time). So a send costs the
same at the 50,000th message as at the 50th, and the state row stays under
``TAIL_MAX`` messages plus one 40-byte reference per page.

Why content objects and not actor-state rows of a page kind: a page is written once and
read rarely (history paging, a delete or mark-read reaching back), which is what the content
store is for; it is sealed, routed to the tenant's region and removed at the account purge
like every content object, with no second actor per page to activate, fence and passivate.
Pages are not exported or swept by retention as content: they hold a message's metadata
(numbers, time, segments, status: what its message detail record keeps for 7 years), never
its body, which stays its own ``sms-body`` object that export, erasure and retention find by
its ``subjects`` metadata, paged or not.

A page is never changed in place: deleting a paged message or marking it read writes the page
again under a new object id, the state is saved pointing at it, then the old object is
deleted (:class:`Change` collects both sides; on a failed save the new objects are dropped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from actors.messages.v1 import sms_pb2 as msg_sms
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.errors import NotFound
from fabric.vault.content import SMS_BODY, SMS_PAGE, ContentStore

PAGE_MESSAGES = 50
"""Messages moved into one page. The tail (50-99 messages) covers GetHistory's default page
(50); every message rewrites the whole state twice (both sides), so its size is most of a
send's storage cost (benchmarks/sms.py)."""
TAIL_MAX = 2 * PAGE_MESSAGES
"""The tail's size that moves its oldest PAGE_MESSAGES into a page (so it keeps 50-99)."""
CACHED_PAGES = 4
INBOUND = api_messaging.MESSAGE_DIRECTION_INBOUND


@dataclass(slots=True)
class Change:
    """Page objects a change wrote (dropped if the state's save fails) and replaced ones
    (deleted once the state no longer names them)."""

    written: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Found:
    """Where a message is: in the tail (page is None) or in a loaded page."""

    message: msg_sms.StoredSms
    page: int | None = None
    messages: list[msg_sms.StoredSms] = field(default_factory=list)


def body_object_id(m: msg_sms.StoredSms) -> str:
    """The object id of a message's sealed body: ``<message id>.i`` (inbound) or ``.o``.
    Derived, not stored (older states stored it in ``body_object_id``; that is honoured)."""
    return m.body_object_id or f"{m.message_id}.{'i' if m.direction == INBOUND else 'o'}"


def _unread(messages: Iterable[msg_sms.StoredSms]) -> int:
    return sum(1 for m in messages if not m.read)


class PagedHistory:
    """The history of one conversation over its state's tail and its pages."""

    def __init__(self, state: msg_sms.SmsConversationState, index: str,
                 content: Callable[[], ContentStore]) -> None:
        self.state = state
        self._index = index  # the conversation key's blind index (names no number)
        self._content = content
        self._cache: dict[str, list[msg_sms.StoredSms]] = {}

    # ---- counts ---------------------------------------------------------------------------

    def count(self) -> int:
        """Messages kept (tail and pages)."""
        return len(self.state.messages) + sum(p.count for p in self.state.pages)

    def unread(self) -> int:
        """INBOUND messages not read (tail and pages)."""
        return _unread(self.state.messages) + sum(p.unread for p in self.state.pages)

    def last_at_ms(self) -> int:
        """The newest message's time (0 when empty)."""
        if self.state.messages:
            return self.state.messages[-1].sent_at_ms
        return self.state.pages[-1].last_at_ms if self.state.pages else 0

    # ---- pages ----------------------------------------------------------------------------

    async def _write(self, messages: list[msg_sms.StoredSms], change: Change) -> msg_sms.SmsPageRef:
        s = self.state
        s.page_version += 1
        object_id = f"p.{self._index}.{s.page_version}"
        data = msg_sms.SmsPage(messages=messages).SerializeToString()
        await self._content().put(s.tenant_id, SMS_PAGE, object_id, data)
        change.written.append(object_id)
        self._remember(object_id, messages)
        return msg_sms.SmsPageRef(
            object_id=object_id, first_seq=messages[0].seq, last_seq=messages[-1].seq,
            count=len(messages), unread=_unread(messages), last_at_ms=messages[-1].sent_at_ms,
        )

    def _remember(self, object_id: str, messages: list[msg_sms.StoredSms]) -> None:
        if len(self._cache) >= CACHED_PAGES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[object_id] = messages

    async def load(self, ref: msg_sms.SmsPageRef) -> list[msg_sms.StoredSms]:
        """A page's messages, oldest first (the activation caches a few: pages are
        immutable under their object id). Callers must not change them in place."""
        cached = self._cache.get(ref.object_id)
        if cached is not None:
            return cached
        reader = await self._content().open(self.state.tenant_id, SMS_PAGE, ref.object_id)
        messages = list(msg_sms.SmsPage.FromString(await reader.read_all()).messages)
        self._remember(ref.object_id, messages)
        return messages

    async def page_out(self, change: Change) -> None:
        """Move the tail's oldest messages into pages once the tail is full (a state saved
        before pages existed is paged out at its first save)."""
        tail = self.state.messages
        while len(tail) >= TAIL_MAX:
            moving = [_copy(m) for m in tail[:PAGE_MESSAGES]]
            self.state.pages.append(await self._write(moving, change))
            del tail[:PAGE_MESSAGES]

    async def _rewrite(self, i: int, messages: list[msg_sms.StoredSms], change: Change) -> None:
        """Replace page ``i`` by ``messages`` (dropped when empty)."""
        old = self.state.pages[i].object_id
        if messages:
            self.state.pages[i].CopyFrom(await self._write(messages, change))
        else:
            del self.state.pages[i]
        change.replaced.append(old)
        self._cache.pop(old, None)

    async def settle(self, change: Change, saved: bool) -> None:
        """After the state's save: delete the replaced pages (saved) or the new ones (not)."""
        content = self._content()
        for object_id in change.replaced if saved else change.written:
            with contextlib.suppress(NotFound):
                await content.delete(self.state.tenant_id, SMS_PAGE, object_id)
            self._cache.pop(object_id, None)

    # ---- reading --------------------------------------------------------------------------

    async def newest(self, size: int, before_seq: int) -> tuple[list[msg_sms.StoredSms], bool]:
        """Up to ``size`` messages below ``before_seq`` (0: from the newest), newest first,
        and whether older ones remain."""
        out: list[msg_sms.StoredSms] = []

        def take(messages: Iterable[msg_sms.StoredSms]) -> bool:
            for m in messages:
                if not before_seq or m.seq < before_seq:
                    out.append(m)
                    if len(out) > size:
                        return True
            return False

        if take(reversed(self.state.messages)):
            return out[:size], True
        for ref in reversed(self.state.pages):
            if before_seq and ref.first_seq >= before_seq:
                continue
            if take(reversed(await self.load(ref))):
                return out[:size], True
        return out, False

    async def find(self, message_id: str) -> Found | None:
        """Where a message is (the tail first, then the pages newest first)."""
        for m in self.state.messages:
            if m.message_id == message_id:
                return Found(m)
        for i in range(len(self.state.pages) - 1, -1, -1):
            messages = await self.load(self.state.pages[i])
            for m in messages:
                if m.message_id == message_id:
                    return Found(m, i, messages)
        return None

    # ---- changing -------------------------------------------------------------------------

    async def mark_read(self, up_to_seq: int, change: Change) -> bool:
        """Mark every message with ``seq <= up_to_seq`` read; whether anything changed."""
        changed = False
        for m in self.state.messages:
            if m.seq <= up_to_seq and not m.read:
                m.read = True
                changed = True
        for i, ref in enumerate(self.state.pages):
            if not ref.unread or ref.first_seq > up_to_seq:
                continue
            messages = [_copy(m) for m in await self.load(ref)]
            for m in messages:
                if m.seq <= up_to_seq:
                    m.read = True
            await self._rewrite(i, messages, change)
            changed = True
        return changed

    async def delete(self, message_ids: set[str] | None, change: Change) -> int:
        """Delete the messages (all when None) and their sealed bodies; how many."""
        content, tenant = self._content(), self.state.tenant_id
        doomed: list[msg_sms.StoredSms] = []
        tail = [m for m in self.state.messages if message_ids is not None
                and m.message_id not in message_ids]
        doomed.extend(m for m in self.state.messages if message_ids is None
                      or m.message_id in message_ids)
        pages: list[tuple[int, list[msg_sms.StoredSms]]] = []
        wanted = None if message_ids is None else set(message_ids) - {
            m.message_id for m in doomed}
        for i, ref in enumerate(self.state.pages):
            if wanted is not None and not wanted:
                break
            messages = await self.load(ref)
            hit = {m.message_id for m in messages if wanted is None or m.message_id in wanted}
            if hit:
                doomed.extend(m for m in messages if m.message_id in hit)
                pages.append((i, [m for m in messages if m.message_id not in hit]))
                if wanted is not None:
                    wanted -= hit
        for m in doomed:  # the bodies first: they are what must not outlive the delete
            with contextlib.suppress(NotFound):  # deleted by an earlier attempt or erased
                await content.delete(tenant, SMS_BODY, body_object_id(m))
        del self.state.messages[:]
        self.state.messages.extend(tail)
        for i, kept in reversed(pages):  # from the end: a dropped page shifts later indexes
            await self._rewrite(i, [_copy(m) for m in kept], change)
        return len(doomed)


def _copy(m: msg_sms.StoredSms) -> msg_sms.StoredSms:
    out = msg_sms.StoredSms()
    out.CopyFrom(m)
    return out

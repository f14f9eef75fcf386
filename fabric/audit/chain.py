"""Appending to a log's chain, and checking a whole log (``fabric audit verify``).

:class:`AuditWriter` is one process's writer: a random stream id, and per log the next
seq and the previous hash, under a per-log lock so entries of one stream are appended in
order. :func:`verify_log` re-computes every hash and checks each stream runs 1, 2, 3 ...
with each entry naming its predecessor's hash, and ends at the head the store recorded: an
edited entry (its hash no longer matches), a removed one (a gap, or a missing tail) and an
inserted one (a broken link) are all reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field

from fabric.audit.entry import GENESIS, RETENTION_S, AuditEntry, chained
from fabric.audit.store import AuditStore
from fabric.clock import Clock, SystemClock


class AuditWriter:
    """Appends sealed entries to this process's stream of each log."""

    def __init__(self, store: AuditStore, clock: Clock | None = None,
                 stream: str | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.stream = stream or secrets.token_hex(8)
        self._tips: dict[str, tuple[int, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Give ``entry`` (its log, who, what, outcome) this stream's next seq, the time and
        the previous hash; store it; return it sealed."""
        return (await self.append_all([entry]))[0]

    async def append_all(self, entries: list[AuditEntry]) -> list[AuditEntry]:
        """:meth:`append` for entries of different logs (one RPC's), stored together in one
        write; the logs' locks are taken in order (no deadlock between two RPCs)."""
        logs = sorted({e.log_id for e in entries})
        if len(logs) != len(entries):
            raise ValueError("append_all takes at most one entry per log")
        async with contextlib.AsyncExitStack() as stack:
            for log_id in logs:
                await stack.enter_async_context(self._locks.setdefault(log_id, asyncio.Lock()))
            now_us = int(self.clock.now() * 1_000_000)
            sealed = []
            for entry in entries:
                seq, prev = self._tips.get(entry.log_id, (0, GENESIS))
                sealed.append(chained(entry, self.stream, seq + 1, entry.at_us or now_us, prev))
            await self.store.append_many(sealed)
            for e in sealed:
                self._tips[e.log_id] = (e.seq, e.hash)
            return sealed


@dataclass(slots=True)
class Verdict:
    """The result of verifying one log: ok, how many entries, and each problem found."""

    log_id: str
    entries: int = 0
    streams: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


async def verify_log(store: AuditStore, log_id: str, now_s: float) -> Verdict:
    """Check every stream of ``log_id``: hashes, links, no gaps, ends at its head.

    A stream may start after seq 1 only when its first kept entry is older than the
    retention period (the ones before it expired); otherwise the start was removed.
    """
    verdict = Verdict(log_id)
    heads = await store.heads(log_id)
    last: dict[str, AuditEntry] = {}
    expired_before_us = int((now_s - RETENTION_S + 86400) * 1_000_000)
    async for e in store.entries(log_id):
        verdict.entries += 1
        where = f"stream {e.stream} seq {e.seq}"
        if e.log_id != log_id:
            verdict.problems.append(f"{where}: belongs to log {e.log_id}")
        if e.digest() != e.hash:
            verdict.problems.append(f"{where}: edited (its hash does not match its content)")
        before = last.get(e.stream)
        if before is None:
            if e.seq == 1 and e.prev_hash != GENESIS:
                verdict.problems.append(f"{where}: first entry does not start the chain")
            elif e.seq != 1 and e.at_us > expired_before_us:
                verdict.problems.append(f"{where}: entries 1-{e.seq - 1} removed")
        elif e.seq != before.seq + 1:
            verdict.problems.append(
                f"{where}: entries {before.seq + 1}-{e.seq - 1} removed" if e.seq > before.seq + 1
                else f"{where}: duplicate or out of order")
        elif e.prev_hash != before.hash:
            verdict.problems.append(f"{where}: does not link to the entry before it")
        last[e.stream] = e
    for stream, (seq, hash_) in heads.items():
        tail = last.get(stream)
        if tail is None:
            verdict.problems.append(f"stream {stream}: every entry removed (head at seq {seq})")
        elif tail.seq < seq:
            verdict.problems.append(f"stream {stream}: entries {tail.seq + 1}-{seq} removed")
        elif tail.seq == seq and tail.hash != hash_:
            verdict.problems.append(f"stream {stream} seq {seq}: not the entry the head names")
    for stream in last.keys() - heads.keys():
        verdict.problems.append(f"stream {stream}: has no head (inserted?)")
    verdict.streams = len(last)
    return verdict

"""Actor state and reminders on Cassandra: one claim per activation, plain writes after it.

**Single writer without a Paxos round per write.** Placement makes one host own an actor;
two activations of one (kind, key) exist only while hosts join or leave, and then the later
one must win. An activation *claims* the actor: one lightweight transaction on
``actor_claims`` sets a new epoch, larger than every earlier one, and a lease of ``LEASE_S``
seconds; a claim is refused while another activation's lease runs (the claimer waits for
it to lapse, or for its holder to release it when that activation ends). Then it reads the
state. Every write of that activation is a plain write ``USING TIMESTAMP (epoch << 20 |
seq)`` (seq counts its writes) at LOCAL_QUORUM at least (a weaker configured level is raised
for state and claims); a write made when less than half the lease is left first renews it
(``UPDATE ... IF epoch = <ours>``, one LWT per half lease of activity). Why that is safe:

- *A stale activation never overwrites a newer one's state.* Cassandra keeps the cell with
  the larger write timestamp (last write wins, per cell, on every replica and in every
  repair), and a later claim's epoch is larger, so each of its writes carries a larger
  timestamp than any write of an earlier claim, whenever and in whatever order they land.
  This part depends on no clock.
- *Nothing acknowledged is lost, and a stale activation stops.* A write is acknowledged if
  it completed while our lease ran (measured on our monotonic clock from *before* the
  claim or renewal was sent, minus ``CLOCK_MARGIN_S``): no other activation could claim
  before the lease lapsed (by its own clock, plus the margin), and it reads the state only
  after its claim, so its quorum read meets our write and builds on it. A write that
  completed after our lease lapsed is acknowledged only if a read of the claim still shows
  our epoch (a committed LWT is seen by every later quorum read; the next activation reads
  after its claim). Otherwise, and when a renewal finds a newer epoch, the write raises
  ``FailedPrecondition`` (``state-claim-lost``): the runtime deactivates the activation and
  the caller retries on the owner. The lease part assumes host clocks within the margin of
  each other (NTP keeps them within milliseconds) and no pause longer than the margin
  between a write's completion and our look at the monotonic clock after it; a pause only
  makes that look later, so it errs towards refusing.
- *Epochs follow the clock.* A new epoch is ``max(stored + 1, now_us >> 20 + 1)``, so its
  timestamps are above "now": they beat rows written by the compare-and-set store before
  (server timestamps), and the tombstone of a forgotten actor. A claim row therefore needs
  to outlive only its last activation (30 days' TTL); a claim found missing at a check is
  re-taken ``IF NOT EXISTS`` (nobody claimed meanwhile) or is lost. A claim that found no
  claim on record (``Fence.fresh``, a new call) does not read the state again: no writer
  can have had a write acknowledged since the read made before it (a writer whose claim
  expired must renew or check first, and finds it gone or ours).
- *Network partition.* A host cut off from a quorum can neither claim, renew, write nor
  check: its turns fail ``Unavailable`` and acknowledge nothing, and after its lease lapses
  the side that reaches a quorum claims the actor (a failover waits at most one lease).
  A host that reaches a quorum but lost its placement gets no more messages for the actor,
  so it stops writing and its lease lapses; a late write of it carries older timestamps
  and loses, and its caller gets an error, never a success. A write that timed out may
  still land later; it loses to every later claim's writes, and its caller was told it
  failed.

Compared with a compare-and-set per save (four round trips and Paxos rows on every
replica per write, a SERIAL read per load): one LWT per activation that writes, then one
plain write per transition. ``save`` (compare-and-set) remains for callers outside the
runtime; a (kind, key) is written one way only, never both.

**State and reminders in one write.** The reminders a transition changes go in the same
logged batch as the state (all or nothing), with the due times the activation read once
(``reminders_of``), so moving or cancelling needs no read.

**Group commit across actors.** The writes of all activations of a host that are ready in
one event-loop iteration go to Cassandra as one request (at most ``GROUP_MAX`` writes and
about ``GROUP_BYTES``, below the server's batch size limit): a logged batch when one of them
is several statements (each write stays all or nothing), else an unlogged one. On this
class of machine the JVM's cost is mostly per request, not per row (measured: a logged
batch of three rows cost the JVM 0.29-0.70 ms alone, 0.075-0.085 ms per write in groups of
four to eight), and calls write at the same moments. Nothing in the argument above
changes: every state statement keeps its own ``USING TIMESTAMP`` of its fence; each write
waits for the request that carries it and is judged acknowledged by the same rule, with
the time it saw the request complete (later than the truth, so erring towards refusing);
a group's failure fails every write in it, each told so (retryable), none acknowledged.

Reminders are rows of :mod:`fabric.storage.cassandra_reminders`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from cassandra import WriteTimeout
from cassandra.query import BatchStatement, BatchType, BoundStatement

from fabric.config import StorageSettings
from fabric.errors import FailedPrecondition, Unavailable
from fabric.storage.base import Fence, ReminderChange, StoredState
from fabric.storage.cassandra_group import GroupCommit
from fabric.storage.cassandra_reminders import (
    BUCKET_S,
    LIST_MARGIN_S,
    REMINDER_CQL,
    SHARD,
    CassandraReminderStore,
    Prepared,
    bucket_of,
    strong,
)
from fabric.storage.cassandra_session import (
    CassandraConnection,
    aexecute,
    connect,
    run,
)
from fabric.storage.sqlite_actor import check_version, conflict

__all__ = ["CassandraReminderStore", "CassandraStateStore", "claim_lost", "fresh_epoch",
           "write_timestamp"]

SEQ_BITS = 20
CLAIM_TTL_S = 30 * 86400
CLAIM_ATTEMPTS = 8
LEASE_S = 5.0  # how long a claim keeps other activations out (renewed by its writes)
CLOCK_MARGIN_S = 1.0  # clock difference between hosts the leases tolerate (NTP: far less)
GROUP_MAX = 16  # writes per group commit
GROUP_BYTES = 24_000  # payload per group commit (Cassandra's default batch limit: 50 KiB)
STATEMENT_BYTES = 120  # what a statement adds to a group beside its payload (estimate)


def fresh_epoch(now: float | None = None) -> int:
    """The smallest epoch a claim made now may take: its timestamps start after ``now``."""
    now_us = int((time.time() if now is None else now) * 1_000_000)
    return (now_us >> SEQ_BITS) + 1


def write_timestamp(fence: Fence) -> int:
    """The write timestamp of the fence's current write (microseconds-like, 64-bit)."""
    return (fence.epoch << SEQ_BITS) | fence.seq


def claim_lost(kind: str) -> FailedPrecondition:
    """The error of a write by an activation that a later claim superseded."""
    return FailedPrecondition(
        f"a newer activation of this {kind} actor claimed it; this one stops",
        error_id="state-claim-lost",
    )


class CassandraStateStore:
    """Actor state fenced by claims (see the module docstring); ``save`` is a CAS."""

    def __init__(
        self, conn: CassandraConnection, *, owns_connection: bool = True,
        lease_s: float = LEASE_S,
    ) -> None:
        self._conn = conn
        self._owns = owns_connection
        self._ps = Prepared(conn)
        self._listed: set[int] = set()
        self._lease_s = lease_s
        self._group: GroupCommit[list[BoundStatement]] = GroupCommit(
            conn, self._request, max_items=GROUP_MAX, max_bytes=GROUP_BYTES)

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
                "put": "INSERT INTO actor_state (kind, key, data, version) VALUES (?, ?, ?, ?) "
                "USING TIMESTAMP ?",
                "forget": "DELETE FROM actor_state USING TIMESTAMP ? WHERE kind = ? AND key = ?",
                "claim_new": "INSERT INTO actor_claims (kind, key, epoch, lease_until) "
                f"VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL {CLAIM_TTL_S}",
                "claim_next": f"UPDATE actor_claims USING TTL {CLAIM_TTL_S} "
                "SET epoch = ?, lease_until = ? "
                "WHERE kind = ? AND key = ? IF epoch = ? AND lease_until = ?",
                "renew": f"UPDATE actor_claims USING TTL {CLAIM_TTL_S} "
                "SET epoch = ?, lease_until = ? WHERE kind = ? AND key = ? IF epoch = ?",
                "release": "UPDATE actor_claims SET lease_until = 0 "
                "WHERE kind = ? AND key = ? IF epoch = ?",
                "check": "SELECT epoch FROM actor_claims WHERE kind = ? AND key = ?",
                **REMINDER_CQL,
            },
            quorum=frozenset({"load", "put", "forget", "check", "claim_new", "claim_next",
                              "renew", "release"}),
        )

    @classmethod
    async def open(cls, settings: StorageSettings, lease_s: float = LEASE_S
                   ) -> CassandraStateStore:
        """Connect and prepare."""
        store = cls(await connect(settings), lease_s=lease_s)
        await store.prepare()
        return store

    async def load(self, kind: str, key: str) -> StoredState | None:
        """Return the stored state (quorum read), or None."""
        rows = await run(self._conn.session, self._ps["load"], [kind, key])
        row = rows[0] if rows else None
        return None if row is None else StoredState(bytes(row.data or b""), int(row.version))

    # ---- claims and fenced writes -------------------------------------------------------

    async def claim(self, kind: str, key: str) -> Fence:
        """Take the next epoch of (kind, key) with a lease: one LWT (two when it was claimed
        before); waits for a live lease of another activation to lapse first."""
        session = self._conn.session
        seen: int | None = None
        seen_until: int | None = None
        for _ in range(CLAIM_ATTEMPTS):
            if seen_until is not None:
                wait = seen_until / 1_000_000 + CLOCK_MARGIN_S - time.time()
                if wait > 0:  # another activation holds a lease: it may write unchecked
                    await asyncio.sleep(min(wait, self._lease_s + CLOCK_MARGIN_S))
            sent = time.monotonic()
            now = time.time()
            epoch = max(fresh_epoch(now), (seen or 0) + 1)
            until = int((now + self._lease_s) * 1_000_000)
            if seen is None:
                statement, params = self._ps["claim_new"], [kind, key, epoch, until]
            else:
                statement = self._ps["claim_next"]
                params = [epoch, until, kind, key, seen, seen_until]
            try:
                rows = await run(session, statement, params)
            except Unavailable as exc:
                if not isinstance(exc.__cause__, WriteTimeout):
                    raise
                seen = seen_until = None  # outcome unknown: start over from what is stored
                continue
            row = rows[0]
            if row.applied:
                return Fence(kind, key, epoch, lease_until=sent + self._lease_s - CLOCK_MARGIN_S,
                             fresh=seen is None)
            current = getattr(row, "epoch", None)
            seen = None if current is None else int(current)
            lease = getattr(row, "lease_until", None)
            seen_until = None if lease is None else int(lease)
        raise Unavailable(
            f"could not claim a {kind} actor (contended); retry", error_id="state-claim-contended"
        )

    async def _renew(self, fence: Fence) -> None:
        """Extend the lease (and take a fresh epoch when the sequence is spent)."""
        sent = time.monotonic()
        now = time.time()
        epoch = fence.epoch
        if fence.seq + 1 >= 1 << SEQ_BITS:
            epoch = max(fresh_epoch(now), fence.epoch + 1)
        until = int((now + self._lease_s) * 1_000_000)
        rows = await run(self._conn.session, self._ps["renew"],
                         [epoch, until, fence.kind, fence.key, fence.epoch])
        if not rows[0].applied:
            raise claim_lost(fence.kind)
        if epoch != fence.epoch:
            fence.epoch, fence.seq = epoch, 0
        fence.lease_until = sent + self._lease_s - CLOCK_MARGIN_S

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        """Store (or forget) the state with the reminder changes, fenced by the claim."""
        if (fence.seq + 1 >= 1 << SEQ_BITS
                or time.monotonic() > fence.lease_until - self._lease_s / 2):
            await self._renew(fence)
        fence.seq += 1
        ts = write_timestamp(fence)
        version = 0 if data is None else fence.version + 1
        if data is None:
            state = self._ps["forget"].bind([ts, fence.kind, fence.key])
        else:
            state = self._ps["put"].bind([fence.kind, fence.key, bytes(data), version, ts])
        await self._apply(fence.kind, fence.key, [state], reminders, len(data or b""))
        if time.monotonic() > fence.lease_until:
            await self._check(fence)  # the lease lapsed meanwhile: is the claim still ours?
        fence.version = version
        return version

    async def release(self, fence: Fence) -> None:
        """End the lease now (only if the claim is still ours), so a next activation need
        not wait for it; the epoch stays, so the next claim's writes still win."""
        if time.monotonic() >= fence.lease_until:
            return  # lapsed already: nothing to give up
        await run(self._conn.session, self._ps["release"],
                  [fence.kind, fence.key, fence.epoch])
        fence.lease_until = 0.0

    async def change_reminders(
        self, kind: str, key: str, reminders: tuple[ReminderChange, ...]
    ) -> None:
        """Apply a turn's reminder changes in one (logged) write."""
        if reminders:
            await self._apply(kind, key, [], reminders)

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        """The actor's stored reminders (name -> due)."""
        rows = await run(self._conn.session, self._ps["get_all"], [kind, key])
        return {str(r.name): float(r.due) for r in rows}

    async def _apply(
        self,
        kind: str,
        key: str,
        statements: list[BoundStatement],
        reminders: tuple[ReminderChange, ...],
        payload: int = 0,
    ) -> None:
        listings: list[int] = []
        for change in reminders:
            statements.extend(self._reminder_statements(kind, key, change, listings))
        if statements:
            await self._group.submit(statements, payload + STATEMENT_BYTES * len(statements))
        for bucket in listings:  # after the rows (see the module docstring)
            await run(self._conn.session, self._ps["list"], [SHARD, bucket])
            self._listed.add(bucket)

    def _request(self, group: list[list[BoundStatement]]) -> Any:
        """One statement, or a batch: logged when one write of it is several statements."""
        if len(group) == 1 and len(group[0]) == 1:
            return group[0][0]
        logged = any(len(statements) > 1 for statements in group)
        batch = BatchStatement(BatchType.LOGGED if logged else BatchType.UNLOGGED,
                               consistency_level=strong(self._conn.consistency))
        for statements in group:
            for statement in statements:
                batch.add(statement)
        return batch

    def _reminder_statements(
        self, kind: str, key: str, change: ReminderChange, listings: list[int]
    ) -> list[BoundStatement]:
        ps = self._ps
        out: list[BoundStatement] = []
        old = change.previous
        if change.due is not None:
            due = float(change.due)
            bucket = bucket_of(due)
            out.append(ps["put_row"].bind([bucket, due, kind, key, change.name]))
            out.append(ps["put_id"].bind([kind, key, change.name, due]))
            if not self._listed_still(bucket) and bucket not in listings:
                listings.append(bucket)
            if old is not None and old != due:
                out.append(ps["del_row"].bind([bucket_of(old), old, kind, key, change.name]))
        elif old is not None:
            out.append(ps["del_row"].bind([bucket_of(old), old, kind, key, change.name]))
            out.append(ps["del_id"].bind([kind, key, change.name]))
        return out

    def _listed_still(self, bucket: int) -> bool:
        """Whether our own listing of ``bucket`` stands (no scanner unlists it yet)."""
        return bucket in self._listed and (bucket + 1) * BUCKET_S - time.time() > LIST_MARGIN_S

    async def _check(self, fence: Fence) -> None:
        """The claim read after a write: still ours, or ``state-claim-lost``."""
        session = self._conn.session
        rows = await run(session, self._ps["check"], [fence.kind, fence.key])
        current = int(rows[0].epoch) if rows and rows[0].epoch is not None else None
        if current == fence.epoch:
            return
        if current is None:  # expired (an activation older than the TTL): take it back
            retake = await run(session, self._ps["claim_new"],
                               [fence.kind, fence.key, fence.epoch, 0])
            if retake[0].applied:
                return
        raise claim_lost(fence.kind)

    # ---- compare-and-set (callers outside the runtime) ---------------------------------

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

"""Actor state, claims and reminders in the tenant's region's keyspace (issue 14, residency).

With ``storage.regions`` set, a tenant's actors keep their state, their claims (epoch and
lease, :mod:`fabric.storage.cassandra_actor`) and their reminders in the keyspace of the
tenant's region, like its CDRs and content (:mod:`fabric.storage.regional`). The wrappers
here hold one fenced state store and one reminder store per region, plus the shared
keyspace's, and send each call to the store of the actor's region (:class:`ActorRegions`):

- **Actors whose key names the tenant** (:data:`TENANT_KEYED`: ``tenant``, ``mailbox``,
  ``sms-tenant``, ``sms-conv``, ``callindex``, ``privacy``, ``recordings``,
  ``recording-settings``, ``compliance``): the tenant's region (:class:`TenantRegions`;
  the default region when none is recorded).
- **Calls** (``call``): the key is the bare call id (32 hex digits, the public API's id),
  which names no tenant. The API's ``Dial`` records the call's region in the shared
  keyspace's ``actor_regions`` (migration 014: call id -> region, no person, 30 days' TTL)
  before it sends the call actor its first message (:meth:`ActorRegions.record_call`); a
  call with no record is in the default region.
- **Everything else stays in the shared keyspace**: actors of the carrier, not of a tenant
  (the number directory ``numbers/global``, the operators ``operators/carrier``, the privacy
  index ``privacy-index/all``) and the region directories themselves (``tenant_regions``,
  ``actor_regions``), which must be readable before a region is known.

**Claims stay with their state.** Every (kind, key) has one region, fixed once known
(a region never changes), so its claim, state and reminders are in one keyspace and the
epoch fencing of :class:`~fabric.storage.cassandra_actor.CassandraStateStore` holds as it
is. A fence remembers the keyspace it was claimed in (:class:`RoutedFence`); a write
through it after the actor's region turned out to be another one (a tenant's first actor
activated before its region was recorded) is refused ``state-claim-lost`` rather than split
the actor between keyspaces, so the next activation claims in the right one. The API
records a tenant's region before it creates the tenant (``CarrierAdmin.CreateTenant``)
and a call's before it starts the call, so that refusal is not met in normal operation.

**Reminders.** A reminder lives in its actor's keyspace; the scan of due reminders
(:meth:`RegionalReminderStore.due`) reads every region's keyspace and the shared one.

Actor state is sealed by :class:`~fabric.storage.sealed_state.SealedStateStore` around
this wrapper, under the platform's record key (kept in the default region's keyspace).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from fabric.errors import FailedPrecondition
from fabric.storage.base import (
    Fence,
    FencedStateStore,
    Reminder,
    ReminderChange,
    ReminderStore,
    StoredState,
)
from fabric.storage.cassandra_session import CassandraConnection, run
from fabric.storage.residency import TenantRegions

SHARED = ""
"""The target of actors that stay in the shared keyspace."""

TENANT_KEYED: Mapping[str, str] = {
    "tenant": "", "sms-tenant": "", "callindex": "", "privacy": "",
    "recording-settings": "", "compliance": "",
    "mailbox": "/",  # <tenant>/<mailbox>
    "sms-conv": "|",  # <tenant>|<conversation>
    "recordings": ":",  # <tenant>:<month>
}
"""Actor kinds whose key names the tenant: kind -> the separator after the tenant id
(``""``: the key is the tenant id). Checked against the actors' own addresses by a test."""

CALL_KIND = "call"
CALL_REGION_TTL_S = 30 * 86400
CALL_CACHE_MAX = 100_000


def tenant_of(kind: str, key: str) -> str | None:
    """The tenant an actor's key names, or None (a call, or an actor of the carrier)."""
    sep = TENANT_KEYED.get(kind)
    if sep is None:
        return None
    return key if not sep else key.split(sep, 1)[0]


class CallRegions:
    """Each call's region, recorded by the API before the call starts (storage: subclass)."""

    async def record(self, call_id: str, region: str) -> None:
        """Record the region of a new call."""
        raise NotImplementedError

    async def read(self, call_id: str) -> str | None:
        """The recorded region, or None."""
        raise NotImplementedError


class CassandraCallRegions(CallRegions):
    """The record in the shared keyspace's ``actor_regions`` (migration 014)."""

    def __init__(self, conn: CassandraConnection) -> None:
        self._conn = conn

    def prepare(self) -> None:
        """Prepare the statements on the shared keyspace's session (blocking)."""
        session = self._conn.session
        self._get = session.prepare(
            "SELECT region FROM actor_regions WHERE kind = ? AND key = ?")
        self._put = session.prepare(
            "INSERT INTO actor_regions (kind, key, region) VALUES (?, ?, ?) "
            f"USING TTL {CALL_REGION_TTL_S}")

    async def record(self, call_id: str, region: str) -> None:
        """Write the record (a quorum write: the call's host reads it at a quorum)."""
        await run(self._conn.session, self._put, (CALL_KIND, call_id, region))

    async def read(self, call_id: str) -> str | None:
        """Read the record."""
        rows = await run(self._conn.session, self._get, (CALL_KIND, call_id))
        return str(rows[0].region) if rows else None


class MemoryCallRegions(CallRegions):
    """The record in memory (unit tests)."""

    def __init__(self) -> None:
        self.recorded: dict[str, str] = {}

    async def record(self, call_id: str, region: str) -> None:
        """Keep it."""
        self.recorded[call_id] = region

    async def read(self, call_id: str) -> str | None:
        """Look it up."""
        return self.recorded.get(call_id)


class ActorRegions:
    """Which keyspace holds an actor: a region name, or :data:`SHARED`."""

    def __init__(self, tenants: TenantRegions, calls: CallRegions) -> None:
        self.tenants = tenants
        self.calls = calls
        self._calls: dict[str, str] = {}

    async def record_call(self, call_id: str, tenant_id: str) -> None:
        """Record a new call of ``tenant_id`` in its tenant's region (before the call
        actor gets its first message)."""
        region = await self.tenants.region_of(tenant_id)
        await self.calls.record(call_id, region)
        self._remember(call_id, region)

    def _remember(self, call_id: str, region: str) -> None:
        if len(self._calls) >= CALL_CACHE_MAX:
            self._calls.clear()
        self._calls[call_id] = region

    async def region_of(self, kind: str, key: str) -> str:
        """The region of actor (kind, key), or :data:`SHARED`."""
        tenant = tenant_of(kind, key)
        if tenant is not None:
            return await self.tenants.region_of(tenant)
        if kind != CALL_KIND:
            return SHARED
        known = self._calls.get(key)
        if known is None:
            known = await self.calls.read(key) or self.tenants.default
            self._remember(key, known)
        return known


@dataclass(slots=True)
class RoutedFence(Fence):
    """A fence that remembers the keyspace (region, or :data:`SHARED`) it was claimed in."""

    target: str = SHARED


def _moved(kind: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"this {kind} actor was claimed before its region was recorded; it stops and the "
        "next activation claims it in its region", error_id="state-claim-lost")


class RegionalFencedStateStore:
    """A :class:`FencedStateStore` per region plus the shared keyspace's, routed by actor."""

    def __init__(self, regions: ActorRegions, shared: FencedStateStore,
                 by_region: Mapping[str, FencedStateStore]) -> None:
        self.regions = regions
        self.stores: dict[str, FencedStateStore] = {SHARED: shared, **by_region}

    async def _of(self, kind: str, key: str) -> tuple[str, FencedStateStore]:
        target = await self.regions.region_of(kind, key)
        return target, self.stores[target]

    async def _fenced(self, fence: Fence) -> FencedStateStore:
        """The store the fence was claimed in; refused if the actor now routes elsewhere."""
        target = fence.target if isinstance(fence, RoutedFence) else SHARED
        if await self.regions.region_of(fence.kind, fence.key) != target:
            raise _moved(fence.kind)
        return self.stores[target]

    async def load(self, kind: str, key: str) -> StoredState | None:
        """From the actor's keyspace."""
        return await (await self._of(kind, key))[1].load(kind, key)

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Compare-and-set in the actor's keyspace."""
        return await (await self._of(kind, key))[1].save(kind, key, data, expected_version)

    async def delete(self, kind: str, key: str) -> None:
        """In the actor's keyspace."""
        await (await self._of(kind, key))[1].delete(kind, key)

    async def claim(self, kind: str, key: str) -> Fence:
        """Claim in the actor's keyspace; the fence remembers which."""
        target, store = await self._of(kind, key)
        f = await store.claim(kind, key)
        return RoutedFence(f.kind, f.key, f.epoch, f.seq, f.version, f.lease_until, f.fresh,
                           target=target)

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        """A fenced write in the keyspace of the fence's claim."""
        return await (await self._fenced(fence)).write(fence, data, reminders)

    async def release(self, fence: Fence) -> None:
        """Release in the keyspace of the fence's claim."""
        target = fence.target if isinstance(fence, RoutedFence) else SHARED
        await self.stores[target].release(fence)

    async def change_reminders(
        self, kind: str, key: str, reminders: tuple[ReminderChange, ...]
    ) -> None:
        """In the actor's keyspace."""
        await (await self._of(kind, key))[1].change_reminders(kind, key, reminders)

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        """From the actor's keyspace."""
        return await (await self._of(kind, key))[1].reminders_of(kind, key)

    async def close(self) -> None:
        """Close every keyspace's store."""
        for store in self.stores.values():
            await store.close()


class RegionalReminderStore:
    """A :class:`ReminderStore` per region plus the shared keyspace's, routed by actor;
    the due scan reads them all."""

    def __init__(self, regions: ActorRegions, shared: ReminderStore,
                 by_region: Mapping[str, ReminderStore]) -> None:
        self.regions = regions
        self.stores: dict[str, ReminderStore] = {SHARED: shared, **by_region}

    async def _of(self, kind: str, key: str) -> ReminderStore:
        return self.stores[await self.regions.region_of(kind, key)]

    async def upsert(self, reminder: Reminder) -> None:
        """In the actor's keyspace."""
        await (await self._of(reminder.kind, reminder.key)).upsert(reminder)

    async def cancel(self, kind: str, key: str, name: str) -> None:
        """In the actor's keyspace."""
        await (await self._of(kind, key)).cancel(kind, key, name)

    async def due(self, until: float, limit: int = 1000) -> list[Reminder]:
        """Every keyspace's due reminders, earliest first."""
        found = await asyncio.gather(*(s.due(until, limit) for s in self.stores.values()))
        merged = sorted((r for part in found for r in part),
                        key=lambda r: (r.due, r.kind, r.key, r.name))
        return merged[:limit]

    async def close(self) -> None:
        """Close every keyspace's store."""
        for store in self.stores.values():
            await store.close()


__all__ = ["SHARED", "TENANT_KEYED", "ActorRegions", "CallRegions", "CassandraCallRegions",
           "MemoryCallRegions", "RegionalFencedStateStore", "RegionalReminderStore",
           "RoutedFence", "tenant_of"]

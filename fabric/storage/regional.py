"""Stores that keep each tenant's data in its region's keyspace (issue 14, residency).

Each wraps one store per region (opened by the factory on that region's keyspace) and
sends every call to the store of the tenant's region (:class:`TenantRegions`): CDRs,
message detail records, audit logs (a log id is a tenant id, or ``carrier``: the default
region), sealed content (objects and chunks) and the vault's wrapped keys (tenant keys,
data keys, destruction schedule). Calls that span every tenant (the vault's re-wrap lists
and the sweeper's due destructions) read every region.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditPage, AuditQuery, AuditStore
from fabric.cdr import Cdr
from fabric.storage.base import CdrPage, CdrStore
from fabric.storage.mdr import Mdr, MdrStore
from fabric.storage.residency import TenantRegions
from fabric.vault.content import ContentInfo, ContentReader, ContentStore
from fabric.vault.keystore import DataKeyRecord, Destruction, KeyStore, TenantKeyRecord


class _Closable(Protocol):
    """What every routed store has: a close."""

    async def close(self) -> None: ...


T = TypeVar("T", bound=_Closable)


class _Routed(Generic[T]):
    """One store per region and the directory that says which a tenant uses."""

    def __init__(self, regions: TenantRegions, stores: Mapping[str, T]) -> None:
        self.regions = regions
        self.by_region = dict(stores)

    async def of(self, tenant_id: str) -> T:
        """The store of ``tenant_id``'s region."""
        return self.by_region[await self.regions.region_of(tenant_id)]

    async def close(self) -> None:
        """Close every region's store."""
        for store in self.by_region.values():
            await store.close()


class RegionalCdrStore(_Routed[CdrStore]):
    """:class:`CdrStore` routed by tenant."""

    async def write(self, cdr: Cdr) -> None:
        """Write in the tenant's region."""
        await (await self.of(cdr.tenant_id)).write(cdr)

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """Read from the tenant's region."""
        return await (await self.of(tenant_id)).get(tenant_id, call_id)

    async def query(
        self, tenant_id: str, start: datetime, end: datetime, *, number: str | None = None,
        page_size: int = 100, page_token: str = "",
    ) -> CdrPage:
        """Query the tenant's region."""
        return await (await self.of(tenant_id)).query(
            tenant_id, start, end, number=number, page_size=page_size, page_token=page_token)

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase in the tenant's region."""
        return await (await self.of(tenant_id)).delete_tenant(tenant_id)


class RegionalMdrStore(_Routed[MdrStore]):
    """:class:`MdrStore` routed by tenant."""

    async def write(self, mdr: Mdr) -> None:
        """Write in the tenant's region."""
        await (await self.of(mdr.tenant_id)).write(mdr)

    async def list(
        self, tenant_id: str, since_ms: int, until_ms: int, limit: int = 100
    ) -> list[Mdr]:
        """Read from the tenant's region."""
        return await (await self.of(tenant_id)).list(tenant_id, since_ms, until_ms, limit)


class RegionalAuditStore(_Routed[AuditStore]):
    """:class:`AuditStore` routed by log id (a tenant id; ``carrier`` is the default's)."""

    async def append(self, entry: AuditEntry) -> None:
        """Append in the log's region."""
        await (await self.of(entry.log_id)).append(entry)

    async def append_many(self, entries: list[AuditEntry]) -> None:
        """One write per region (the logs of one call are usually one tenant's and the
        carrier's; across two regions the two writes are not atomic together)."""
        groups: dict[str, list[AuditEntry]] = {}
        for entry in entries:
            groups.setdefault(await self.regions.region_of(entry.log_id), []).append(entry)
        await asyncio.gather(*(self.by_region[r].append_many(g) for r, g in groups.items()))

    async def query(self, log_id: str, query: AuditQuery) -> AuditPage:
        """Query the log's region."""
        return await (await self.of(log_id)).query(log_id, query)

    async def entries(self, log_id: str) -> AsyncIterator[AuditEntry]:
        """Every entry, from the log's region."""
        async for entry in (await self.of(log_id)).entries(log_id):
            yield entry

    async def heads(self, log_id: str) -> dict[str, tuple[int, str]]:
        """The log's heads, from its region."""
        return await (await self.of(log_id)).heads(log_id)


class RegionalContentStore(ContentStore):
    """:class:`ContentStore` whose objects and chunks are in the tenant's region (one
    ContentStore per region, all sealing through the same vault)."""

    def __init__(self, regions: TenantRegions, stores: Mapping[str, ContentStore]) -> None:
        default = stores[regions.default]
        super().__init__(default.vault, default.backend)
        self._routed = _Routed(regions, stores)

    async def put(
        self, tenant_id: str, data_class: str, object_id: str,
        data: bytes | AsyncIterable[bytes], metadata: dict[str, str] | None = None,
    ) -> ContentInfo:
        """Seal and store in the tenant's region."""
        store = await self._routed.of(tenant_id)
        return await store.put(tenant_id, data_class, object_id, data, metadata)

    async def open(self, tenant_id: str, data_class: str, object_id: str) -> ContentReader:
        """Open from the tenant's region."""
        return await (await self._routed.of(tenant_id)).open(tenant_id, data_class, object_id)

    async def list(self, tenant_id: str, data_class: str) -> list[ContentInfo]:
        """List the tenant's region."""
        return await (await self._routed.of(tenant_id)).list(tenant_id, data_class)

    async def delete(self, tenant_id: str, data_class: str, object_id: str) -> float:
        """Delete in the tenant's region."""
        return await (await self._routed.of(tenant_id)).delete(tenant_id, data_class, object_id)

    async def close(self) -> None:
        """Close every region's backend."""
        await self._routed.close()


class RegionalKeyStore(_Routed[KeyStore]):
    """The vault's :class:`KeyStore` routed by tenant; the lists span every region."""

    async def tenant_keys(self, tenant_id: str) -> list[TenantKeyRecord]:
        """From the tenant's region."""
        return await (await self.of(tenant_id)).tenant_keys(tenant_id)

    async def add_tenant_key(self, record: TenantKeyRecord) -> bool:
        """In the tenant's region."""
        return await (await self.of(record.tenant_id)).add_tenant_key(record)

    async def rewrap_tenant_key(
        self, tenant_id: str, version: int, root_version: int, wrapped: bytes
    ) -> None:
        """In the tenant's region."""
        store = await self.of(tenant_id)
        await store.rewrap_tenant_key(tenant_id, version, root_version, wrapped)

    async def retire_tenant_key(self, tenant_id: str, version: int) -> None:
        """In the tenant's region."""
        await (await self.of(tenant_id)).retire_tenant_key(tenant_id, version)

    async def destroy_tenant(self, tenant_id: str) -> None:
        """In the tenant's region."""
        await (await self.of(tenant_id)).destroy_tenant(tenant_id)

    async def all_tenant_keys(self) -> list[TenantKeyRecord]:
        """Every region's."""
        return [k for s in self.by_region.values() for k in await s.all_tenant_keys()]

    async def data_key(self, tenant_id: str, key_id: str) -> DataKeyRecord | None:
        """From the tenant's region."""
        return await (await self.of(tenant_id)).data_key(tenant_id, key_id)

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        """In the tenant's region."""
        return await (await self.of(record.tenant_id)).add_data_key(record)

    async def rewrap_data_key(
        self, tenant_id: str, key_id: str, tenant_version: int, wrapped: bytes
    ) -> None:
        """In the tenant's region."""
        store = await self.of(tenant_id)
        await store.rewrap_data_key(tenant_id, key_id, tenant_version, wrapped)

    async def all_data_keys(self) -> list[DataKeyRecord]:
        """Every region's."""
        return [k for s in self.by_region.values() for k in await s.all_data_keys()]

    async def schedule_destruction(self, tenant_id: str, key_id: str, due: float) -> None:
        """In the tenant's region."""
        await (await self.of(tenant_id)).schedule_destruction(tenant_id, key_id, due)

    async def due_destructions(self, until: float, limit: int = 1000) -> list[Destruction]:
        """Every region's, earliest first."""
        found = [d for s in self.by_region.values() for d in await s.due_destructions(until, limit)]
        return sorted(found, key=lambda d: d.due)[:limit]

    async def destroy_data_key(self, destruction: Destruction) -> None:
        """In the tenant's region."""
        await (await self.of(destruction.tenant_id)).destroy_data_key(destruction)

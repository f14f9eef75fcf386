"""Residency (issue 14): which region keeps a tenant's data, and the region keyspaces.

With ``storage.regions`` set (Cassandra only, e.g. ``["us", "eu"]``), each region ``r`` has
its own keyspace ``<keyspace>_<r>``, replicated by NetworkTopologyStrategy only in the
data centre named ``r``. A tenant's region is written once, when the carrier creates it,
in the shared keyspace's ``tenant_regions`` table (``INSERT ... IF NOT EXISTS``): a second
assignment of another region is refused ``FAILED_PRECONDITION region-immutable``. The
regional stores (:mod:`fabric.storage.regional`) ask :class:`TenantRegions` where a tenant
lives; a tenant with no recorded region (and the carrier's own audit log) is in the first
listed region, the default.

With no regions configured (the default) nothing here is used: one keyspace holds all.
"""

from __future__ import annotations

import re
import time

from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.cassandra_session import CassandraConnection, run

REGION_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
REGION_IMMUTABLE = "region-immutable"
REGION_NOT_SERVED = "region-not-served"
NEGATIVE_CACHE_S = 5.0
"""How long "no region recorded" is believed (a tenant is recorded before it exists, so
only an id looked up before its creation could be answered stale, for this long)."""


def region_keyspace(keyspace: str, region: str) -> str:
    """The keyspace of a region's data (``callfabric`` + ``eu`` -> ``callfabric_eu``)."""
    return f"{keyspace}_{region}"


def check_regions(regions: list[str]) -> None:
    """INVALID_ARGUMENT ``invalid-regions`` unless every name is a short lowercase word
    (it names a data centre and a keyspace suffix) and none repeats."""
    if len(set(regions)) != len(regions) or not all(REGION_RE.match(r) for r in regions):
        raise InvalidArgument(
            f"storage.regions must be distinct lowercase names (data centres), e.g. "
            f"[\"us\", \"eu\"]; got {regions!r}", error_id="invalid-regions")


class TenantRegions:
    """Each tenant's region (see the module docstring); the storage of the record is the
    subclass's (:class:`CassandraTenantRegions`, :class:`MemoryTenantRegions`)."""

    def __init__(self, regions: list[str]) -> None:
        check_regions(regions)
        if not regions:
            raise InvalidArgument("residency needs at least one region",
                                  error_id="invalid-regions")
        self.regions = tuple(regions)
        self.default = regions[0]
        self._known: dict[str, str] = {}
        self._unknown: dict[str, float] = {}

    async def _insert_if_absent(self, tenant_id: str, region: str) -> str:
        """Record the region unless one is recorded; return the recorded one."""
        raise NotImplementedError

    async def _read(self, tenant_id: str) -> str | None:
        """The recorded region, or None."""
        raise NotImplementedError

    def check_served(self, region: str) -> None:
        """FAILED_PRECONDITION ``region-not-served`` for a region this fabric has no
        keyspace for."""
        if region not in self.regions:
            raise FailedPrecondition(
                f"this fabric keeps data in the regions {', '.join(self.regions)}; "
                f"{region!r} is not one (storage.regions)", error_id=REGION_NOT_SERVED,
                details={"field": "region"})

    async def assign(self, tenant_id: str, region: str) -> None:
        """Record ``tenant_id``'s region (idempotent for the same region); another region
        than the recorded one is ``FAILED_PRECONDITION region-immutable``."""
        self.check_served(region)
        stored = await self._insert_if_absent(tenant_id, region)
        if stored != region:
            raise FailedPrecondition(
                f"the tenant's region is {stored}; a region never changes in place (its data "
                "stays where it was written): create a new tenant in the other region",
                error_id=REGION_IMMUTABLE, details={"field": "region"})
        self._known[tenant_id] = stored
        self._unknown.pop(tenant_id, None)

    async def region_of(self, tenant_id: str) -> str:
        """The tenant's region (the default when none is recorded)."""
        known = self._known.get(tenant_id)
        if known is not None:
            return known
        if self._unknown.get(tenant_id, 0.0) > time.monotonic():
            return self.default
        stored = await self._read(tenant_id)
        if stored is None:
            self._unknown[tenant_id] = time.monotonic() + NEGATIVE_CACHE_S
            return self.default
        self._known[tenant_id] = stored
        return stored


class CassandraTenantRegions(TenantRegions):
    """The record in the shared keyspace's ``tenant_regions`` (migration 013)."""

    def __init__(self, conn: CassandraConnection, regions: list[str]) -> None:
        super().__init__(regions)
        self._conn = conn

    def prepare(self) -> None:
        """Prepare the statements on the shared keyspace's session (blocking)."""
        session = self._conn.session
        self._get = session.prepare("SELECT region FROM tenant_regions WHERE tenant_id = ?")
        self._put = session.prepare(
            "INSERT INTO tenant_regions (tenant_id, region) VALUES (?, ?) IF NOT EXISTS")

    async def _insert_if_absent(self, tenant_id: str, region: str) -> str:
        rows = await run(self._conn.session, self._put, (tenant_id, region))
        row = rows[0] if rows else None
        return region if row is None or bool(row[0]) else str(row.region)

    async def _read(self, tenant_id: str) -> str | None:
        rows = await run(self._conn.session, self._get, (tenant_id,))
        return str(rows[0].region) if rows else None


class MemoryTenantRegions(TenantRegions):
    """The record in memory (unit tests)."""

    def __init__(self, regions: list[str]) -> None:
        super().__init__(regions)
        self.recorded: dict[str, str] = {}

    async def _insert_if_absent(self, tenant_id: str, region: str) -> str:
        return self.recorded.setdefault(tenant_id, region)

    async def _read(self, tenant_id: str) -> str | None:
        return self.recorded.get(tenant_id)

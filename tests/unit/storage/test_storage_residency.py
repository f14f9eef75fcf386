"""Residency building blocks (issue 14): the region directory (assigned once, never moved,
only served regions), the routing stores (a tenant's CDRs, message records, audit log,
content and vault keys go to its region's store only; lists span every region), and the
TenantActor / CarrierAdmin side (region set at creation, shown in GetTenant, refused when
the fabric does not serve it). The per-region stores here are SQLite files and in-memory
stores; the two-DC Cassandra test is tests/integration/storage/test_residency_routing.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.api.carrier import CarrierServicer
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import NumberDirectory
from actors.tenant import TenantActor, tenant_address
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.audit.chain import AuditWriter
from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditQuery, AuditStore, MemoryAuditStore
from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.base import CdrStore
from fabric.storage.mdr import Mdr, MdrStore
from fabric.storage.regional import (
    RegionalAuditStore,
    RegionalCdrStore,
    RegionalContentStore,
    RegionalKeyStore,
    RegionalMdrStore,
)
from fabric.storage.residency import MemoryTenantRegions, TenantRegions
from fabric.storage.sqlite_cdr import SqliteCdrStore
from fabric.storage.sqlite_content import SqliteContentBackend
from fabric.storage.sqlite_mdr import SqliteMdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock
from fabric.vault.content import VOICEMAIL, ContentStore
from fabric.vault.keystore import KeyStore
from fabric.vault.provider import LocalFileKeyProvider
from fabric.vault.sqlite_keys import SqliteKeyStore
from fabric.vault.vault import Vault

REGIONS = ["us", "eu"]


async def test_directory_assigns_once_and_serves_only_its_regions() -> None:
    regions = MemoryTenantRegions(REGIONS)
    assert await regions.region_of("t-new") == "us"  # nothing recorded: the default
    await regions.assign("t-eu", "eu")
    await regions.assign("t-eu", "eu")  # idempotent
    with pytest.raises(FailedPrecondition) as moved:
        await regions.assign("t-eu", "us")
    assert moved.value.error_id == "region-immutable"
    assert await regions.region_of("t-eu") == "eu"
    with pytest.raises(FailedPrecondition) as unserved:
        await regions.assign("t-x", "apac")
    assert unserved.value.error_id == "region-not-served"
    with pytest.raises(InvalidArgument):
        MemoryTenantRegions(["us", "us"])


def _entry(log_id: str) -> AuditEntry:
    return AuditEntry(log_id=log_id, stream="", seq=0, at_us=0, principal="u-1", role="owner",
                      principal_tenant=log_id, key_id="k", method="/x.Y/Get", action="read",
                      object_class="thing", object_id="1", peer="p", outcome="OK",
                      error_id="", prev_hash="")


async def test_each_tenant_s_data_goes_to_its_region_only(tmp_path: Path, make_cdr) -> None:
    regions = MemoryTenantRegions(REGIONS)
    await regions.assign("t-eu", "eu")
    await regions.assign("t-us", "us")
    keys: dict[str, KeyStore] = {r: SqliteKeyStore(tmp_path / r / "vault.sqlite3")
                                 for r in REGIONS}
    vault = Vault(LocalFileKeyProvider(tmp_path / "root.key"), RegionalKeyStore(regions, keys),
                  key_cache_s=0)
    backends = {r: SqliteContentBackend(tmp_path / r) for r in REGIONS}
    content = RegionalContentStore(regions, {r: ContentStore(vault, b)
                                             for r, b in backends.items()})
    cdrs: dict[str, CdrStore] = {
        r: await SqliteCdrStore(tmp_path / r / "cdr.sqlite3", vault=vault).open() for r in REGIONS}
    mdrs: dict[str, MdrStore] = {r: SqliteMdrStore(tmp_path / r / "mdr.sqlite3", vault=vault)
                                 for r in REGIONS}
    audits: dict[str, AuditStore] = {r: MemoryAuditStore() for r in REGIONS}
    cdr, mdr = RegionalCdrStore(regions, cdrs), RegionalMdrStore(regions, mdrs)
    audit = RegionalAuditStore(regions, audits)
    try:
        for tenant in ("t-eu", "t-us"):
            await cdr.write(make_cdr(tenant_id=tenant))
            await mdr.write(Mdr(tenant, "a" * 32, "inbound", "+15550100001", "+15550100002",
                                1_773_000_000_000, 1, "gsm7", "delivered"))
            await content.put(tenant, VOICEMAIL, "vm-1", tenant.encode(), {"mailbox": "101"})
        # one RPC's entries for a tenant's log and the carrier's: split by region
        await AuditWriter(audit).append_all([_entry("t-eu"), _entry("carrier")])
        start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
        for here, other in (("eu", "us"), ("us", "eu")):
            mine, theirs = f"t-{here}", f"t-{other}"
            assert len((await cdrs[here].query(mine, start, end)).records) == 1
            assert (await cdrs[here].query(theirs, start, end)).records == []
            assert len(await mdrs[here].list(mine, 0, 1_800_000_000_000)) == 1
            assert await mdrs[here].list(theirs, 0, 1_800_000_000_000) == []
            assert [r.object_id for r in await backends[here].list_objects(mine, VOICEMAIL)] \
                == ["vm-1"]
            assert await backends[here].list_objects(theirs, VOICEMAIL) == []
            assert await keys[here].tenant_keys(mine) != []
            assert await keys[here].tenant_keys(theirs) == []
        assert await (await content.open("t-eu", VOICEMAIL, "vm-1")).read_all() == b"t-eu"
        assert len((await audits["eu"].query("t-eu", AuditQuery())).entries) == 1
        assert (await audits["us"].query("t-eu", AuditQuery())).entries == []
        assert len((await audits["us"].query("carrier", AuditQuery())).entries) == 1
        assert len((await audit.query("t-eu", AuditQuery())).entries) == 1
        # the vault's lists span every region (re-wrap, sweeper)
        tenants = {k.tenant_id for k in await vault.keys.all_tenant_keys()}
        assert {"t-eu", "t-us"} <= tenants
        await content.delete("t-eu", VOICEMAIL, "vm-1")
        due = await vault.keys.due_destructions(until=1e12)
        assert [d.tenant_id for d in due] == ["t-eu"]
    finally:
        await content.close()
        await cdr.close()
        await mdr.close()
        await audit.close()
        await vault.close()


async def _system(regions: TenantRegions | None) -> LocalActorSystem:
    services: dict[type, object] = {} if regions is None else {TenantRegions: regions}
    system = LocalActorSystem([TenantActor, NumberDirectory], services=services,
                              clock=ManualClock(), background=False)
    await system.start()
    return system


async def test_region_set_at_creation_shown_and_refused_when_not_served() -> None:
    regions = MemoryTenantRegions(REGIONS)
    system = await _system(regions)
    try:
        api = CarrierServicer(system)
        made = await api.CreateTenant(api_carrier.CreateTenantRequest(
            name="Acme EU", region="eu"), None)  # type: ignore[arg-type]
        assert made.tenant.region == "eu"
        assert regions.recorded[made.tenant.tenant_id] == "eu"
        got = await api.GetTenant(api_carrier.TenantRef(
            tenant_id=made.tenant.tenant_id), None)  # type: ignore[arg-type]
        assert got.region == "eu"
        plain = await api.CreateTenant(api_carrier.CreateTenantRequest(name="Acme"), None)  # type: ignore[arg-type]
        assert plain.tenant.region == "us"
        with pytest.raises(InvalidArgument) as bad:
            await api.CreateTenant(api_carrier.CreateTenantRequest(
                name="Acme", region="mars"), None)  # type: ignore[arg-type]
        assert bad.value.error_id == "invalid-region"
        # the directory never moves a tenant: the same id with another region is refused
        with pytest.raises(FailedPrecondition) as moved:
            await regions.assign(made.tenant.tenant_id, "us")
        assert moved.value.error_id == "region-immutable"
    finally:
        await system.stop()
    system = await _system(None)  # no storage.regions: one keyspace, "us" only
    try:
        with pytest.raises(FailedPrecondition) as refused:
            await system.ref(tenant_address("t-1")).ask(msg_tenant.CreateTenant(
                tenant_id="t-1", name="x", owner_user_id="u-1", owner_key_id="k",
                owner_secret_hash=b"h" * 32, region="eu"))
        assert refused.value.error_id == "region-not-served"
        made_us = await system.ref(tenant_address("t-2")).ask(msg_tenant.CreateTenant(
            tenant_id="t-2", name="x", owner_user_id="u-1", owner_key_id="k",
            owner_secret_hash=b"h" * 32), reply=api_carrier.Tenant)
        assert made_us.region == "us"
    finally:
        await system.stop()

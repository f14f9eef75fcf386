"""Per-tenant residency on a two-DC local cluster (127.0.0.95 in dc ``us``, 127.0.0.96 in
dc ``eu``; the launcher's ``--dcs us,eu``, own nodes: the shared dev node is untouched).

One fabric configured with ``storage.regions = ["us", "eu"]``: a tenant created through the
TenantActor with region ``eu`` is recorded in the region directory (and refused another
region afterwards: ``region-immutable``); its CDRs, message records, audit entries, sealed
content (objects and chunks) and vault keys, written through the fabric's stores, lie only
in the SSTables of the ``eu`` node, and a ``us`` tenant's only on the ``us`` node. Checked
on disk after a clean stop (memtables flushed) with ``sstabledump``. Slow (two JVMs): one
test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import TenantActor, tenant_address
from cluster.cassandra_sstables import data_files, partition_keys
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.audit.chain import AuditWriter
from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditQuery
from fabric.config import StorageSettings, VaultSettings
from fabric.errors import FailedPrecondition
from fabric.storage.factory import open_stores
from fabric.storage.mdr import Mdr
from fabric.storage.residency import TenantRegions
from fabric.systems import LocalActorSystem
from fabric.vault.content import VOICEMAIL

pytestmark = pytest.mark.cassandra

REGIONS = ("us", "eu")
KEYSPACE = "resroute"
# tables of a tenant's data partitioned by tenant id (cdr_by_call and content_chunks are
# keyed by call id / key id: checked by their files)
TENANT_TABLES = ("cdr_by_tenant_day", "mdr_by_tenant_day_v2", "content_objects",
                 "vault_tenant_keys", "vault_data_keys")
ALL_TABLES = (*TENANT_TABLES, "cdr_by_call", "content_chunks", "audit_log")


def _audit_entry(log_id: str) -> AuditEntry:
    return AuditEntry(log_id=log_id, stream="", seq=0, at_us=0, principal="u-owner",
                      role="owner", principal_tenant=log_id, key_id="k1",
                      method="/fabric.api.v1.Voicemail/GetMessage", action="read",
                      object_class="voicemail", object_id="m1", peer="127.0.0.1",
                      outcome="OK", error_id="", prev_hash="")


async def _create(system: LocalActorSystem, tenant_id: str, region: str) -> api_carrier.Tenant:
    return await system.ref(tenant_address(tenant_id)).ask(msg_tenant.CreateTenant(
        tenant_id=tenant_id, name=tenant_id, plan=api_carrier.PLAN_STANDARD, owner_name="O",
        owner_user_id="u-owner", owner_key_id="k1", owner_secret_hash=b"h" * 32,
        region=region), reply=api_carrier.Tenant)


async def test_each_tenant_s_data_lies_only_on_its_region_s_node(
    private_cassandra, make_cdr, tmp_path: Path
) -> None:
    addresses = await asyncio.to_thread(private_cassandra.up, "127.0.0.95", 2, 512,
                                        list(REGIONS))
    settings = StorageSettings(
        backend="cassandra", cassandra_hosts=addresses, keyspace=KEYSPACE, datacenter="us",
        regions=list(REGIONS), replication_factor=1, consistency="LOCAL_QUORUM",
        spool_dir=tmp_path / "spool", **private_cassandra.client_settings())
    stores = await open_stores(settings, sweep=False, vault_settings=VaultSettings(
        root_key_file=tmp_path / "root.key"))
    tenants = {region: f"t-{region}{uuid.uuid4().hex[:8]}" for region in REGIONS}
    secret = {region: f"voicemail of {region} {uuid.uuid4().hex}".encode() for region in REGIONS}
    try:
        assert stores.regions is not None and stores.content is not None
        assert stores.mdr is not None and stores.audit is not None
        system = LocalActorSystem([TenantActor], state_store=stores.state,
                                  services={TenantRegions: stores.regions}, background=False)
        await system.start()
        try:
            for region in REGIONS:
                made = await _create(system, tenants[region], region)
                assert made.region == region
        finally:
            await system.stop()
        assert await stores.regions.region_of(tenants["eu"]) == "eu"
        with pytest.raises(FailedPrecondition) as moved:
            await stores.regions.assign(tenants["eu"], "us")
        assert moved.value.error_id == "region-immutable"
        with pytest.raises(FailedPrecondition) as unserved:
            await stores.regions.assign("t-elsewhere", "apac")
        assert unserved.value.error_id == "region-not-served"
        writer = AuditWriter(stores.audit)
        for region in REGIONS:
            tenant_id = tenants[region]
            for _ in range(2):
                await stores.cdr.write(make_cdr(tenant_id=tenant_id))
            page = await stores.cdr.query(tenant_id, datetime(2026, 3, 1, tzinfo=UTC),
                                          datetime(2026, 4, 1, tzinfo=UTC))
            assert len(page.records) == 2
            await stores.mdr.write(Mdr(tenant_id, uuid.uuid4().hex, "inbound", "+15550100001",
                                       "+15550100002", 1_773_000_000_000, 1, "gsm7",
                                       "delivered"))
            assert len(await stores.mdr.list(tenant_id, 1_772_000_000_000, 1_774_000_000_000)) == 1
            await stores.content.put(tenant_id, VOICEMAIL, "vm-101-c1", secret[region],
                                     {"mailbox": "101"})
            reader = await stores.content.open(tenant_id, VOICEMAIL, "vm-101-c1")
            assert await reader.read_all() == secret[region]
            await writer.append(_audit_entry(tenant_id))
            assert len((await stores.audit.query(tenant_id, AuditQuery())).entries) == 1
    finally:
        await stores.close()
    await asyncio.to_thread(private_cassandra.down)  # a clean stop flushes the memtables
    nodes = dict(zip(REGIONS, private_cassandra.layout.nodes, strict=True))
    assert tuple(n.datacenter for n in nodes.values()) == REGIONS
    for here in REGIONS:
        other = "eu" if here == "us" else "us"
        node = nodes[here]
        for table in TENANT_TABLES:
            keys = await asyncio.to_thread(partition_keys, node, f"{KEYSPACE}_{here}", table)
            assert any(tenants[here] in k for k in keys), (here, table, keys)
            assert not any(tenants[other] in k for k in keys), (here, table, keys)
            shared = await asyncio.to_thread(partition_keys, node, KEYSPACE, table)
            assert not any(t in k for k in shared for t in tenants.values()), (table, shared)
        audit = await asyncio.to_thread(partition_keys, node, f"{KEYSPACE}_{here}", "audit_log")
        assert any(tenants[here] in k for k in audit) and not any(
            tenants[other] in k for k in audit), audit
        for table in ALL_TABLES:  # the other region's keyspace has no file on this node
            assert data_files(node, f"{KEYSPACE}_{other}", table) == [], (here, table)
        assert data_files(node, f"{KEYSPACE}_{here}", "content_chunks") != []
        # the content's plaintext is on no node's disk (sealed)
        for path in data_files(node, f"{KEYSPACE}_{here}", "content_chunks"):
            assert secret[here] not in Path(path).read_bytes()
    # the region directory and the tenant's (sealed) actor state are in the shared keyspace
    regions_on_us = await asyncio.to_thread(partition_keys, nodes["us"], KEYSPACE,
                                            "tenant_regions")
    assert all(any(t in k for k in regions_on_us) for t in tenants.values()), regions_on_us

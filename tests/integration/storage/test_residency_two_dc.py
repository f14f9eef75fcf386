"""Residency's storage mechanism on a two-DC local cluster (127.0.0.91 in dc ``us``,
127.0.0.92 in dc ``eu``, the launcher's ``--dcs us,eu``): a keyspace per region, replicated
by NetworkTopologyStrategy in that region's data centre only, keeps a tenant's CDRs (and the
vault keys that seal them) on that region's node. Checked on disk: both nodes are stopped
cleanly (memtables flushed) and each node's SSTables are read with ``sstabledump``.

Slow (two JVMs), so everything is checked in one test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cluster.cassandra_sstables import data_files, partition_keys
from fabric.config import StorageSettings, VaultSettings
from fabric.storage.factory import open_stores

pytestmark = pytest.mark.cassandra

REGIONS = ("us", "eu")


async def test_an_eu_keyspace_keeps_its_rows_on_the_eu_node(
    private_cassandra, make_cdr, tmp_path: Path
) -> None:
    addresses = await asyncio.to_thread(private_cassandra.up, "127.0.0.91", 2, 512,
                                        list(REGIONS))
    tenants = {region: f"t-{region}{uuid.uuid4().hex[:8]}" for region in REGIONS}
    for region in REGIONS:
        settings = StorageSettings(
            backend="cassandra", cassandra_hosts=addresses, keyspace=f"residency_{region}",
            datacenter=region, replication_factor=1, consistency="LOCAL_QUORUM",
            spool_dir=tmp_path / f"spool-{region}", **private_cassandra.client_settings())
        stores = await open_stores(settings, sweep=False, vault_settings=VaultSettings(
            root_key_file=tmp_path / "root.key"))
        try:
            for _ in range(3):
                await stores.cdr.write(make_cdr(tenant_id=tenants[region]))
            page = await stores.cdr.query(tenants[region], datetime(2026, 3, 1, tzinfo=UTC),
                                          datetime(2026, 4, 1, tzinfo=UTC))
            assert len(page.records) == 3
        finally:
            await stores.close()
    await asyncio.to_thread(private_cassandra.down)  # a clean stop flushes the memtables
    us_node, eu_node = private_cassandra.layout.nodes
    assert (us_node.datacenter, eu_node.datacenter) == REGIONS
    found = {}
    for node in (us_node, eu_node):
        for region in REGIONS:
            keys = await asyncio.to_thread(partition_keys, node, f"residency_{region}",
                                           "cdr_by_tenant_day")
            found[(node.datacenter, region)] = keys
    # each region's rows are on its own node, and nowhere else
    assert any(tenants["eu"] in k for k in found[("eu", "eu")]), found
    assert any(tenants["us"] in k for k in found[("us", "us")]), found
    assert found[("us", "eu")] == [] and found[("eu", "us")] == [], found
    assert data_files(us_node, "residency_eu", "cdr_by_tenant_day") == []
    assert data_files(eu_node, "residency_us", "cdr_by_tenant_day") == []

"""Per-tenant residency on a two-DC local cluster (127.0.0.95 in dc ``us``, 127.0.0.96 in
dc ``eu``; the launcher's ``--dcs us,eu``, own nodes: the shared dev node is untouched).

One fabric configured with ``storage.regions = ["us", "eu"]``: a tenant created through
CarrierAdmin's CreateTenant with region ``eu`` is recorded in the region directory (and
refused another region afterwards: ``region-immutable``); its CDRs, message records, audit
entries, sealed content (objects and chunks), vault keys, actor state and claims (the
TenantActor's, a mailbox's, a ringing call's recorded by Dial's ``record_call``) and
reminders, written through the fabric's stores, lie only in the SSTables of the ``eu`` node,
and a ``us`` tenant's only on the ``us`` node; the shared keyspace keeps none of them (only
the carrier's number directory and the region directories). Checked on disk after a clean
stop (memtables flushed) with ``sstabledump``. Slow (two JVMs): one test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from actors.api.carrier import CarrierServicer
from actors.number import NumberDirectory
from actors.tenant import TenantActor
from cluster.cassandra_config import NodeSpec
from cluster.cassandra_sstables import data_files, partition_keys, rows_text
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.audit.chain import AuditWriter
from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditQuery
from fabric.config import StorageSettings, VaultSettings
from fabric.errors import FailedPrecondition
from fabric.storage.base import FencedStateStore, ReminderChange
from fabric.storage.factory import Stores, open_stores
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
# actor tables partitioned by (kind, key): a tenant's actors name it, a call its call id
ACTOR_TABLES = ("actor_state", "actor_claims", "reminder_by_id")
ALL_TABLES = (*TENANT_TABLES, *ACTOR_TABLES, "cdr_by_call", "content_chunks", "audit_log",
              "reminders_by_bucket")


def _audit_entry(log_id: str) -> AuditEntry:
    return AuditEntry(log_id=log_id, stream="", seq=0, at_us=0, principal="u-owner",
                      role="owner", principal_tenant=log_id, key_id="k1",
                      method="/fabric.api.v1.Voicemail/GetMessage", action="read",
                      object_class="voicemail", object_id="m1", peer="127.0.0.1",
                      outcome="OK", error_id="", prev_hash="")


async def _actors_of(stores: Stores, tenant_id: str, call_id: str) -> None:
    """A mailbox with a retry reminder and a ringing call with its ring reminder, written
    as the runtime writes them (claim, then fenced writes with their reminders)."""
    assert stores.actors is not None
    state = stores.state
    assert isinstance(state, FencedStateStore)
    due = time.time() + 3600
    mailbox = await state.claim("mailbox", f"{tenant_id}/101")
    await state.write(mailbox, b"mailbox state", (ReminderChange("retry", due, None),))
    await state.release(mailbox)
    await stores.actors.record_call(call_id, tenant_id)  # as Dial does, before StartCall
    call = await state.claim("call", call_id)
    await state.write(call, b"ringing", (ReminderChange("ring-0", due, None),))
    await state.release(call)


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
    tenants: dict[str, str] = {}
    calls = {region: uuid.uuid4().hex for region in REGIONS}
    secret = {region: f"voicemail of {region} {uuid.uuid4().hex}".encode() for region in REGIONS}
    try:
        assert stores.regions is not None and stores.content is not None
        assert stores.mdr is not None and stores.audit is not None
        system = LocalActorSystem([TenantActor, NumberDirectory], state_store=stores.state,
                                  reminder_store=stores.reminders,
                                  services={TenantRegions: stores.regions}, background=False)
        await system.start()
        try:
            carrier = CarrierServicer(system, regions=stores.regions)
            for region in REGIONS:
                made = await carrier.CreateTenant(api_carrier.CreateTenantRequest(
                    name=f"Acme {region}", region=region), None)  # type: ignore[arg-type]
                assert made.tenant.region == region
                tenants[region] = made.tenant.tenant_id
                got = await carrier.GetTenant(api_carrier.TenantRef(
                    tenant_id=tenants[region]), None)  # type: ignore[arg-type]
                assert got.region == region  # read back from the region's keyspace
        finally:
            await system.stop()
        for region in REGIONS:
            await _actors_of(stores, tenants[region], calls[region])
        due = {(r.kind, r.key) for r in await stores.reminders.due(time.time() + 7200)}
        for region in REGIONS:  # the scan reads every region's keyspace
            assert ("call", calls[region]) in due and (
                "mailbox", f"{tenants[region]}/101") in due, due
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
    # every sstabledump the checks below read, run a few at a time (each is a JVM start)
    wanted = [(here, ks, table) for here in REGIONS for ks in (f"{KEYSPACE}_{here}", KEYSPACE)
              for table in (*TENANT_TABLES, *ACTOR_TABLES, "audit_log")]
    wanted += [("us", KEYSPACE, "tenant_regions"), ("us", KEYSPACE, "actor_regions")]
    keys_of = await _partition_keys_of(nodes, wanted)
    texts = await _partition_keys_of(nodes, [(here, ks, "reminders_by_bucket") for here in REGIONS
                                             for ks in (f"{KEYSPACE}_{here}", KEYSPACE)],
                                     dump=rows_text)
    for here in REGIONS:
        other = "eu" if here == "us" else "us"
        node = nodes[here]
        for table in TENANT_TABLES:
            keys = keys_of[here, f"{KEYSPACE}_{here}", table]
            assert any(tenants[here] in k for k in keys), (here, table, keys)
            assert not any(tenants[other] in k for k in keys), (here, table, keys)
            shared = keys_of[here, KEYSPACE, table]
            assert not any(t in k for k in shared for t in tenants.values()), (table, shared)
        audit = keys_of[here, f"{KEYSPACE}_{here}", "audit_log"]
        assert any(tenants[here] in k for k in audit) and not any(
            tenants[other] in k for k in audit), audit
        for table in ALL_TABLES:  # the other region's keyspace has no file on this node
            assert data_files(node, f"{KEYSPACE}_{other}", table) == [], (here, table)
        assert data_files(node, f"{KEYSPACE}_{here}", "content_chunks") != []
        # the content's plaintext is on no node's disk (sealed)
        for path in data_files(node, f"{KEYSPACE}_{here}", "content_chunks"):
            assert secret[here] not in Path(path).read_bytes()
        # actor state, claims and reminders: the tenant's actors and its call, here only
        mine, theirs = (tenants[here], calls[here]), (tenants[other], calls[other])
        for table in ACTOR_TABLES:
            keys = keys_of[here, f"{KEYSPACE}_{here}", table]
            for name in mine:
                assert any(name in k for k in keys), (here, table, name, keys)
            assert not any(n in k for k in keys for n in theirs), (here, table, keys)
            shared = keys_of[here, KEYSPACE, table]
            assert not any(n in k for k in shared for n in (*mine, *theirs)), (table, shared)
        dump = "\n".join(texts[here, f"{KEYSPACE}_{here}", "reminders_by_bucket"])
        assert all(n in dump for n in mine) and not any(n in dump for n in theirs), here
        shared_dump = "\n".join(texts[here, KEYSPACE, "reminders_by_bucket"])
        assert not any(n in shared_dump for n in (*mine, *theirs)), here
        for path in data_files(node, f"{KEYSPACE}_{here}", "actor_state"):  # sealed
            assert b"mailbox state" not in Path(path).read_bytes()
    # the shared keyspace keeps the region directories and the carrier's own actors
    regions_on_us = keys_of["us", KEYSPACE, "tenant_regions"]
    assert all(any(t in k for k in regions_on_us) for t in tenants.values()), regions_on_us
    calls_on_us = keys_of["us", KEYSPACE, "actor_regions"]
    assert all(any(c in k for k in calls_on_us) for c in calls.values()), calls_on_us
    carrier_state = keys_of["us", KEYSPACE, "actor_state"]
    assert any(k.startswith("numbers:") for k in carrier_state), carrier_state


DUMPS_AT_ONCE = 3


async def _partition_keys_of(
    nodes: dict[str, NodeSpec], wanted: list[tuple[str, str, str]],
    dump: Callable[[NodeSpec, str, str], Any] = partition_keys,
) -> dict[tuple[str, str, str], list[str]]:
    """``dump`` (partition keys, or the whole rows' text as one item) of each wanted
    (region, keyspace, table) of the stopped nodes, a few JVMs at a time."""
    gate = asyncio.Semaphore(DUMPS_AT_ONCE)

    async def one(region: str, keyspace: str, table: str) -> list[str]:
        async with gate:
            got = await asyncio.to_thread(dump, nodes[region], keyspace, table)
        return [got] if isinstance(got, str) else list(got)

    found = await asyncio.gather(*(one(*w) for w in wanted))
    return dict(zip(wanted, found, strict=True))

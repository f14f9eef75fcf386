"""Open the regional stores of a Cassandra fabric with ``storage.regions`` set (issue 14).

For each region: its keyspace ``<keyspace>_<region>`` is created (NetworkTopologyStrategy
with replicas only in the data centre named like the region) and migrated like the shared
one, and a driver connection whose local data centre is the region's carries that region's
CDR, MDR, audit, content and vault key stores. The routing wrappers
(:mod:`fabric.storage.regional`) pick a tenant's region from :class:`TenantRegions`
(shared keyspace). Actor state, claims and reminders of a tenant's actors are routed the
same way (:mod:`fabric.storage.regional_state`: per actor, the shared keyspace keeping the
carrier's own actors).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fabric.audit.cassandra_store import CassandraAuditStore
from fabric.audit.store import AuditStore
from fabric.clock import Clock
from fabric.config import StorageSettings, VaultSettings
from fabric.storage.base import CdrStore, FencedStateStore, ReminderStore
from fabric.storage.cassandra_actor import CassandraReminderStore, CassandraStateStore
from fabric.storage.cassandra_cdr import CassandraCdrStore
from fabric.storage.cassandra_content import CassandraContentBackend
from fabric.storage.cassandra_mdr import CassandraMdrStore
from fabric.storage.cassandra_session import CassandraConnection, connect_sync
from fabric.storage.mdr import MdrStore
from fabric.storage.regional import (
    RegionalAuditStore,
    RegionalCdrStore,
    RegionalContentStore,
    RegionalKeyStore,
    RegionalMdrStore,
)
from fabric.storage.regional_state import (
    ActorRegions,
    CassandraCallRegions,
    RegionalFencedStateStore,
    RegionalReminderStore,
)
from fabric.storage.residency import (
    CassandraTenantRegions,
    TenantRegions,
    check_regions,
    region_keyspace,
)
from fabric.storage.schema import apply_schema as apply_migrations
from fabric.vault.cassandra_keys import CassandraKeyStore
from fabric.vault.content import ContentStore
from fabric.vault.factory import open_vault
from fabric.vault.keystore import KeyStore
from fabric.vault.vault import Vault


@dataclass(slots=True)
class RegionalStores:
    """The routed stores and the directory they route by."""

    regions: TenantRegions
    connections: list[CassandraConnection]  # one per region (shut down with the stores)
    vault: Vault
    cdr: CdrStore
    mdr: MdrStore
    audit: AuditStore
    content: ContentStore
    actors: ActorRegions  # which keyspace holds an actor (state, claims, reminders)
    state_by_region: dict[str, FencedStateStore]
    reminders_by_region: dict[str, ReminderStore]

    def state(self, shared: FencedStateStore) -> RegionalFencedStateStore:
        """Actor state routed by actor, ``shared`` keeping the carrier's own actors."""
        return RegionalFencedStateStore(self.actors, shared, self.state_by_region)

    def reminders(self, shared: ReminderStore) -> RegionalReminderStore:
        """Reminders routed by actor; the due scan reads every keyspace."""
        return RegionalReminderStore(self.actors, shared, self.reminders_by_region)


def _region_sessions(
    settings: StorageSettings, apply_schema: bool
) -> dict[str, CassandraConnection]:
    """One driver connection per region, whose local data centre is the region's (its
    keyspace has replicas only there, so LOCAL_QUORUM is a quorum of that region)."""
    out: dict[str, CassandraConnection] = {}
    try:
        for region in settings.regions:
            keyspace = region_keyspace(settings.keyspace, region)
            local = connect_sync(settings.model_copy(
                update={"datacenter": region, "keyspace": keyspace}), use_keyspace=False)
            out[region] = local
            if apply_schema:  # through the region's session: its replicas are all there
                apply_migrations(local.session, keyspace,
                                 replication_factor=settings.replication_factor,
                                 datacenter=region)
            local.session.set_keyspace(keyspace)
    except BaseException:
        for c in out.values():
            c.shutdown()
        raise
    return out


async def open_regional(
    settings: StorageSettings,
    vault_settings: VaultSettings,
    conn: CassandraConnection,
    clock: Clock | None,
    *,
    apply_schema: bool,
) -> RegionalStores:
    """The regional stores on ``conn``'s cluster (its session is the shared keyspace's)."""
    check_regions(settings.regions)
    regions = CassandraTenantRegions(conn, settings.regions)
    calls = CassandraCallRegions(conn)
    await asyncio.to_thread(regions.prepare)
    await asyncio.to_thread(calls.prepare)
    sessions = await asyncio.to_thread(_region_sessions, settings, apply_schema)
    try:
        return await _open_stores(settings, vault_settings, clock,
                                  ActorRegions(regions, calls), sessions)
    except BaseException:
        for c in sessions.values():
            c.shutdown()
        raise


async def _open_stores(
    settings: StorageSettings, vault_settings: VaultSettings, clock: Clock | None,
    actors: ActorRegions, sessions: dict[str, CassandraConnection],
) -> RegionalStores:
    regions = actors.tenants
    key_stores: dict[str, KeyStore] = {}
    for region, c in sessions.items():
        ks = CassandraKeyStore(c)
        await ks.prepare()
        key_stores[region] = ks
    vault = await open_vault(settings, vault_settings, clock=clock,
                             key_store=RegionalKeyStore(regions, key_stores))
    cdrs: dict[str, CdrStore] = {}
    mdrs: dict[str, MdrStore] = {}
    audits: dict[str, AuditStore] = {}
    contents: dict[str, ContentStore] = {}
    states: dict[str, FencedStateStore] = {}
    reminders: dict[str, ReminderStore] = {}
    for region, c in sessions.items():
        cdr = CassandraCdrStore(c, owns_connection=False, vault=vault)
        backend = CassandraContentBackend(c)
        mdr = CassandraMdrStore(c, vault=vault)
        audit = CassandraAuditStore(c)
        state = CassandraStateStore(c, owns_connection=False)
        reminder = CassandraReminderStore(c, owns_connection=False)
        await asyncio.gather(cdr.prepare(), backend.prepare(), mdr.prepare(), audit.prepare(),
                             state.prepare(), reminder.prepare())
        cdrs[region], mdrs[region], audits[region] = cdr, mdr, audit
        states[region], reminders[region] = state, reminder
        contents[region] = ContentStore(vault, backend)
    return RegionalStores(
        regions=regions, connections=list(sessions.values()), vault=vault,
        cdr=RegionalCdrStore(regions, cdrs),
        mdr=RegionalMdrStore(regions, mdrs), audit=RegionalAuditStore(regions, audits),
        content=RegionalContentStore(regions, contents),
        actors=actors, state_by_region=states,
        reminders_by_region=reminders,
    )

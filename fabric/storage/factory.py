"""Open every store of a process from its settings: ``await open_stores(settings)``.

``backend = "embedded"``: SQLite files under ``data_dir`` (``cdr.sqlite3``, and
``actors.sqlite3`` shared by actor state and reminders), no JVM; the CDR store counted by
``MeteredCdrStore`` (no spool: the file is local).
``backend = "cassandra"``: one driver connection shared by the three stores, the schema
migrations applied first (idempotent, so every process may do it at start-up), and the CDR
store wrapped by the durable spool so no CDR is lost while Cassandra is down.

Both: the vault (``fabric.vault``) is opened first, and every store seals through it: CDR
numbers (blind-indexed), spooled CDRs, actor state (``SealedStateStore``), and the sealed
content store (``Stores.content``). A background sweeper destroys the data keys of deleted
content once the backup window has passed (every ``vault.sweep_interval_s``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fabric.audit.store import AuditStore
from fabric.clock import Clock
from fabric.config import StorageSettings, VaultSettings
from fabric.storage.base import CdrStore, ReminderStore, StateStore
from fabric.storage.cassandra_session import CassandraConnection
from fabric.storage.mdr import MdrStore
from fabric.storage.regional_state import ActorRegions
from fabric.storage.residency import TenantRegions
from fabric.storage.sealed_state import SealedFencedStateStore, SealedStateStore
from fabric.vault.content import ContentStore
from fabric.vault.factory import open_vault
from fabric.vault.shredding import KeySweeper
from fabric.vault.vault import Vault


@dataclass(slots=True)
class Stores:
    """The stores of a process and their vault; close them together with :meth:`close`."""

    cdr: CdrStore
    state: StateStore
    reminders: ReminderStore
    vault: Vault | None = None
    content: ContentStore | None = None
    mdr: MdrStore | None = None  # SMS message detail records (fabric.storage.mdr)
    audit: AuditStore | None = None  # the audit log (fabric.audit; issue 14)
    regions: TenantRegions | None = None  # residency: each tenant's region (storage.regions)
    actors: ActorRegions | None = None  # residency: each actor's keyspace (calls recorded)
    _connection: CassandraConnection | None = field(default=None, repr=False)
    _region_connections: list[CassandraConnection] = field(default_factory=list, repr=False)
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

    async def close(self) -> None:
        """Close every store and the shared connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
        await self.cdr.close()
        await self.state.close()
        await self.reminders.close()
        if self.content is not None:
            await self.content.close()
        if self.mdr is not None:
            await self.mdr.close()
        if self.audit is not None:
            await self.audit.close()
        if self.vault is not None:
            await self.vault.close()
        if self._connection is not None:
            self._connection.shutdown()
        for conn in self._region_connections:
            conn.shutdown()


async def open_stores(
    settings: StorageSettings,
    *,
    apply_schema: bool = True,
    vault_settings: VaultSettings | None = None,
    sweep: bool = True,
    clock: Clock | None = None,
) -> Stores:
    """Open the configured backend's CDR, state, reminder and content stores and the vault
    (``vault_settings`` default: ``VaultSettings()``); ``sweep`` runs the key sweeper."""
    vs = vault_settings or VaultSettings()
    if settings.backend == "cassandra":
        stores = await _open_cassandra(settings, vs, clock, apply_schema=apply_schema)
    else:
        stores = await _open_embedded(settings, vs, clock)
    if sweep and stores.vault is not None:
        sweeper = KeySweeper(stores.vault.keys, stores.vault.clock)
        stores._sweeper = asyncio.get_running_loop().create_task(
            sweeper.run(vs.sweep_interval_s), name="vault-key-sweeper"
        )
    return stores


async def _open_embedded(
    settings: StorageSettings, vault_settings: VaultSettings, clock: Clock | None
) -> Stores:
    from fabric.audit.sqlite_store import SqliteAuditStore
    from fabric.storage.metered import MeteredCdrStore
    from fabric.storage.sqlite_actor import (
        SqliteReminderStore,
        SqliteStateStore,
        open_actor_db,
    )
    from fabric.storage.sqlite_cdr import SqliteCdrStore
    from fabric.storage.sqlite_content import SqliteContentBackend
    from fabric.storage.sqlite_mdr import SqliteMdrStore

    vault = await open_vault(settings, vault_settings, clock=clock)
    cdr = MeteredCdrStore(
        await SqliteCdrStore(settings.data_dir / "cdr.sqlite3", vault=vault).open()
    )
    actor_db = open_actor_db(settings.data_dir / "actors.sqlite3")
    state = SealedStateStore(SqliteStateStore(actor_db, owns_db=True), vault)
    reminders = SqliteReminderStore(actor_db, owns_db=False)
    content = ContentStore(vault, SqliteContentBackend(settings.data_dir))
    mdr = await SqliteMdrStore(settings.data_dir / "mdr.sqlite3", vault=vault).open()
    audit = SqliteAuditStore(settings.data_dir / "audit.sqlite3")
    return Stores(cdr=cdr, state=state, reminders=reminders, vault=vault, content=content,
                  mdr=mdr, audit=audit)


async def _open_cassandra(
    settings: StorageSettings,
    vault_settings: VaultSettings,
    clock: Clock | None,
    *,
    apply_schema: bool,
) -> Stores:
    from fabric.audit.cassandra_store import CassandraAuditStore
    from fabric.storage.cassandra_actor import CassandraReminderStore, CassandraStateStore
    from fabric.storage.cassandra_cdr import CassandraCdrStore
    from fabric.storage.cassandra_content import CassandraContentBackend
    from fabric.storage.cassandra_mdr import CassandraMdrStore
    from fabric.storage.cassandra_session import connect_sync
    from fabric.storage.schema import apply_schema as apply_migrations
    from fabric.storage.spool import SpoolingCdrStore

    def _connect() -> CassandraConnection:
        conn = connect_sync(settings, use_keyspace=False)
        try:
            if apply_schema:
                apply_migrations(
                    conn.session,
                    settings.keyspace,
                    replication_factor=settings.replication_factor,
                    datacenter=settings.datacenter,
                )
            conn.session.set_keyspace(settings.keyspace)
        except BaseException:
            conn.shutdown()
            raise
        return conn

    conn = await asyncio.to_thread(_connect)
    try:
        if settings.regions:
            from fabric.storage.regional_open import open_regional

            regional = await open_regional(settings, vault_settings, conn, clock,
                                           apply_schema=apply_schema)
            state = CassandraStateStore(conn, owns_connection=False)
            reminders = CassandraReminderStore(conn, owns_connection=False)
            await asyncio.gather(state.prepare(), reminders.prepare())
            spooled = await SpoolingCdrStore(regional.cdr, settings.spool_dir,
                                             vault=regional.vault).open()
            return Stores(  # state and reminders routed by actor (regional_state)
                cdr=spooled, state=SealedFencedStateStore(regional.state(state), regional.vault),
                reminders=regional.reminders(reminders), vault=regional.vault,
                content=regional.content, mdr=regional.mdr, audit=regional.audit,
                regions=regional.regions, actors=regional.actors,
                _connection=conn, _region_connections=regional.connections,
            )
        vault = await open_vault(settings, vault_settings, connection=conn, clock=clock)
        cdr = CassandraCdrStore(conn, owns_connection=False, vault=vault)
        state = CassandraStateStore(conn, owns_connection=False)
        reminders = CassandraReminderStore(conn, owns_connection=False)
        backend = CassandraContentBackend(conn)
        mdr = CassandraMdrStore(conn, vault=vault)
        audit = CassandraAuditStore(conn)
        await asyncio.gather(
            cdr.prepare(), state.prepare(), reminders.prepare(), backend.prepare(), mdr.prepare(),
            audit.prepare(),
        )
        spooled = await SpoolingCdrStore(cdr, settings.spool_dir, vault=vault).open()
    except BaseException:
        conn.shutdown()
        raise
    return Stores(
        cdr=spooled,
        state=SealedFencedStateStore(state, vault),
        reminders=reminders,
        vault=vault,
        content=ContentStore(vault, backend),
        mdr=mdr,
        audit=audit,
        _connection=conn,
    )

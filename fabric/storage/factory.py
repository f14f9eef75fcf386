"""Open every store of a process from its settings: ``await open_stores(settings)``.

``backend = "embedded"``: SQLite files under ``data_dir`` (``cdr.sqlite3``, and
``actors.sqlite3`` shared by actor state and reminders), no JVM; the CDR store counted by
``MeteredCdrStore`` (no spool: the file is local).
``backend = "cassandra"``: one driver connection shared by the three stores, the schema
migrations applied first (idempotent, so every process may do it at start-up), and the CDR
store wrapped by the durable spool so no CDR is lost while Cassandra is down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fabric.config import StorageSettings
from fabric.storage.base import CdrStore, ReminderStore, StateStore
from fabric.storage.cassandra_session import CassandraConnection


@dataclass(slots=True)
class Stores:
    """The three stores of a process; close them together with :meth:`close`."""

    cdr: CdrStore
    state: StateStore
    reminders: ReminderStore
    _connection: CassandraConnection | None = field(default=None, repr=False)

    async def close(self) -> None:
        """Close every store and the shared connection."""
        await self.cdr.close()
        await self.state.close()
        await self.reminders.close()
        if self._connection is not None:
            self._connection.shutdown()


async def open_stores(settings: StorageSettings, *, apply_schema: bool = True) -> Stores:
    """Open the configured backend's CDR, state and reminder stores."""
    if settings.backend == "cassandra":
        return await _open_cassandra(settings, apply_schema=apply_schema)
    return await _open_embedded(settings)


async def _open_embedded(settings: StorageSettings) -> Stores:
    from fabric.storage.metered import MeteredCdrStore
    from fabric.storage.sqlite_actor import (
        SqliteReminderStore,
        SqliteStateStore,
        open_actor_db,
    )
    from fabric.storage.sqlite_cdr import SqliteCdrStore

    cdr = MeteredCdrStore(await SqliteCdrStore(settings.data_dir / "cdr.sqlite3").open())
    actor_db = open_actor_db(settings.data_dir / "actors.sqlite3")
    state = SqliteStateStore(actor_db, owns_db=True)
    reminders = SqliteReminderStore(actor_db, owns_db=False)
    return Stores(cdr=cdr, state=state, reminders=reminders)


async def _open_cassandra(settings: StorageSettings, *, apply_schema: bool) -> Stores:
    from fabric.storage.cassandra_actor import CassandraReminderStore, CassandraStateStore
    from fabric.storage.cassandra_cdr import CassandraCdrStore
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
        cdr = CassandraCdrStore(conn, owns_connection=False)
        state = CassandraStateStore(conn, owns_connection=False)
        reminders = CassandraReminderStore(conn, owns_connection=False)
        await asyncio.gather(cdr.prepare(), state.prepare(), reminders.prepare())
        spooled = await SpoolingCdrStore(cdr, settings.spool_dir).open()
    except BaseException:
        conn.shutdown()
        raise
    return Stores(cdr=spooled, state=state, reminders=reminders, _connection=conn)

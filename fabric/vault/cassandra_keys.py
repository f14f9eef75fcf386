"""The key store on Cassandra: the ``vault_*`` tables of migration 004.

A tenant key version is inserted with a lightweight transaction (``IF NOT EXISTS``) so two
processes creating a tenant's first key agree on one. Re-wraps and destructions overwrite
the ``wrapped`` cell; the tables' short ``gc_grace_seconds`` lets compaction drop the old
bytes soon after. The destruction schedule is one partition clustered by due time (it holds
only the keys of objects deleted within the backup window).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.query import PreparedStatement

from fabric.storage.cassandra_session import CassandraConnection, run, unavailable
from fabric.vault.keystore import DataKeyRecord, Destruction, TenantKeyRecord

_SHARD = 0


def _tenant(row: Any) -> TenantKeyRecord:
    return TenantKeyRecord(
        row.tenant_id, int(row.version), int(row.root_version or 0), bytes(row.wrapped or b""),
        bool(row.destroyed),
    )


def _data(row: Any) -> DataKeyRecord:
    return DataKeyRecord(
        row.tenant_id, row.key_id, row.data_class, row.object_id or "",
        int(row.tenant_version or 0), bytes(row.wrapped or b""), bool(row.deleted),
    )


class CassandraKeyStore:
    """Wrapped keys and the destruction schedule in Cassandra."""

    def __init__(self, conn: CassandraConnection) -> None:
        self._conn = conn
        self._ps: dict[str, PreparedStatement] = {}

    async def prepare(self) -> None:
        """Prepare every statement (in a thread)."""
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        tk = "tenant_id, version, root_version, wrapped, destroyed"
        dk = "tenant_id, key_id, data_class, object_id, tenant_version, wrapped, deleted"
        texts = {
            "tenant_keys": f"SELECT {tk} FROM vault_tenant_keys WHERE tenant_id = ?",
            "add_tenant": f"INSERT INTO vault_tenant_keys ({tk}) VALUES (?, ?, ?, ?, ?) "
            "IF NOT EXISTS",
            "rewrap_tenant": "UPDATE vault_tenant_keys SET root_version = ?, wrapped = ? "
            "WHERE tenant_id = ? AND version = ?",
            "retire_tenant": "DELETE FROM vault_tenant_keys WHERE tenant_id = ? AND version = ?",
            "destroy_tenant": "UPDATE vault_tenant_keys SET wrapped = 0x, destroyed = true "
            "WHERE tenant_id = ? AND version = ?",
            "all_tenants": f"SELECT {tk} FROM vault_tenant_keys",
            "data_key": f"SELECT {dk} FROM vault_data_keys WHERE tenant_id = ? AND key_id = ?",
            "add_data": f"INSERT INTO vault_data_keys ({dk}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "IF NOT EXISTS",
            "rewrap_data": "UPDATE vault_data_keys SET tenant_version = ?, wrapped = ? "
            "WHERE tenant_id = ? AND key_id = ? IF wrapped != 0x",
            "all_data": f"SELECT {dk} FROM vault_data_keys",
            "mark_deleted": "UPDATE vault_data_keys SET deleted = true "
            "WHERE tenant_id = ? AND key_id = ?",
            "schedule": "INSERT INTO vault_key_destructions (shard, due, tenant_id, key_id) "
            "VALUES (?, ?, ?, ?)",
            "due": "SELECT due, tenant_id, key_id FROM vault_key_destructions "
            "WHERE shard = ? AND due <= ? LIMIT ?",
            "destroy_data": "UPDATE vault_data_keys SET wrapped = 0x, deleted = true "
            "WHERE tenant_id = ? AND key_id = ?",
            "unschedule": "DELETE FROM vault_key_destructions "
            "WHERE shard = ? AND due = ? AND tenant_id = ? AND key_id = ?",
        }
        for name, text in texts.items():
            ps = self._conn.session.prepare(text)
            ps.consistency_level = self._conn.consistency
            ps.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            self._ps[name] = ps

    async def _rows(self, name: str, params: list[Any]) -> list[Any]:
        rows = await run(self._conn.session, self._ps[name], params)
        return [] if rows is None else list(rows)

    async def _all(self, name: str) -> list[Any]:
        def _fetch() -> list[Any]:
            try:
                return list(self._conn.session.execute(self._ps[name]))
            except Exception as exc:
                raise unavailable(exc) from exc

        return await asyncio.to_thread(_fetch)

    async def tenant_keys(self, tenant_id: str) -> list[TenantKeyRecord]:
        """Every version of the tenant's key, ascending."""
        return sorted(
            (_tenant(r) for r in await self._rows("tenant_keys", [tenant_id])),
            key=lambda r: r.version,
        )

    async def add_tenant_key(self, record: TenantKeyRecord) -> bool:
        """Insert a version if absent (LWT)."""
        r = record
        rows = await self._rows(
            "add_tenant", [r.tenant_id, r.version, r.root_version, r.wrapped, r.destroyed]
        )
        return bool(rows[0].applied)

    async def rewrap_tenant_key(
        self, tenant_id: str, version: int, root_version: int, wrapped: bytes
    ) -> None:
        """Replace one version's wrapping."""
        await self._rows("rewrap_tenant", [root_version, wrapped, tenant_id, version])

    async def retire_tenant_key(self, tenant_id: str, version: int) -> None:
        """Remove an old version."""
        await self._rows("retire_tenant", [tenant_id, version])

    async def destroy_tenant(self, tenant_id: str) -> None:
        """Wipe every version; keep a destroyed marker at version 0."""
        versions = {r.version for r in await self.tenant_keys(tenant_id)} | {0}
        await asyncio.gather(
            *(self._rows("destroy_tenant", [tenant_id, v]) for v in sorted(versions))
        )

    async def all_tenant_keys(self) -> list[TenantKeyRecord]:
        """Every tenant key version."""
        return [_tenant(r) for r in await self._all("all_tenants")]

    async def data_key(self, tenant_id: str, key_id: str) -> DataKeyRecord | None:
        """One data key, or None."""
        rows = await self._rows("data_key", [tenant_id, key_id])
        return _data(rows[0]) if rows else None

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        """Insert a data key if absent (LWT)."""
        r = record
        rows = await self._rows(
            "add_data",
            [r.tenant_id, r.key_id, r.data_class, r.object_id, r.tenant_version, r.wrapped,
             r.deleted],
        )
        return bool(rows[0].applied)

    async def rewrap_data_key(
        self, tenant_id: str, key_id: str, tenant_version: int, wrapped: bytes
    ) -> None:
        """Replace the wrapping unless the key was destroyed meanwhile (LWT)."""
        await self._rows("rewrap_data", [tenant_version, wrapped, tenant_id, key_id])

    async def all_data_keys(self) -> list[DataKeyRecord]:
        """Every data key not yet destroyed."""
        return [d for d in (_data(r) for r in await self._all("all_data")) if d.wrapped]

    async def schedule_destruction(self, tenant_id: str, key_id: str, due: float) -> None:
        """Schedule first, then mark deleted: a crash in between leaves a due row."""
        await self._rows("schedule", [_SHARD, due, tenant_id, key_id])
        await self._rows("mark_deleted", [tenant_id, key_id])

    async def due_destructions(self, until: float, limit: int = 1000) -> list[Destruction]:
        """Due rows, earliest first."""
        rows = await self._rows("due", [_SHARD, until, limit])
        return [Destruction(float(r.due), r.tenant_id, r.key_id) for r in rows]

    async def destroy_data_key(self, destruction: Destruction) -> None:
        """Wipe the wrapped key, then drop the schedule row."""
        d = destruction
        await self._rows("destroy_data", [d.tenant_id, d.key_id])
        await self._rows("unschedule", [_SHARD, d.due, d.tenant_id, d.key_id])

    async def close(self) -> None:
        """Nothing to close: the connection is shared."""

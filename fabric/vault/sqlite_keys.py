"""The embedded key store: ``vault.sqlite3`` in the data directory (mode 0600).

Wiping a key is an ``UPDATE`` that sets the wrapped bytes to an empty blob, with
``secure_delete`` on so SQLite overwrites the freed bytes in the file instead of leaving
them in free pages. (The WAL may still hold the old page until the next checkpoint, which
runs on the store's thread every few hundred commits; a destruction also checkpoints.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fabric.storage.sqlite_db import SqliteDb
from fabric.vault.keystore import DataKeyRecord, Destruction, TenantKeyRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant_key (
    tenant_id TEXT NOT NULL, version INTEGER NOT NULL, root_version INTEGER NOT NULL,
    wrapped BLOB NOT NULL, destroyed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, version));
CREATE TABLE IF NOT EXISTS data_key (
    tenant_id TEXT NOT NULL, key_id TEXT NOT NULL, data_class TEXT NOT NULL,
    object_id TEXT NOT NULL, tenant_version INTEGER NOT NULL, wrapped BLOB NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, key_id));
CREATE TABLE IF NOT EXISTS key_destruction (
    due REAL NOT NULL, tenant_id TEXT NOT NULL, key_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key_id));
CREATE INDEX IF NOT EXISTS key_destruction_by_due ON key_destruction (due);
"""


def _tenant(row: tuple[str, int, int, bytes, int]) -> TenantKeyRecord:
    return TenantKeyRecord(row[0], int(row[1]), int(row[2]), bytes(row[3]), bool(row[4]))


def _data(row: tuple[str, str, str, str, int, bytes, int]) -> DataKeyRecord:
    return DataKeyRecord(
        row[0], row[1], row[2], row[3], int(row[4]), bytes(row[5]), bool(row[6])
    )


_TK = "SELECT tenant_id, version, root_version, wrapped, destroyed FROM tenant_key"
_DK = (
    "SELECT tenant_id, key_id, data_class, object_id, tenant_version, wrapped, deleted "
    "FROM data_key"
)


class SqliteKeyStore:
    """Wrapped keys and the destruction schedule in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteDb(path, _SCHEMA, pragmas=("secure_delete = ON",))

    async def tenant_keys(self, tenant_id: str) -> list[TenantKeyRecord]:
        """Every version of the tenant's key, ascending."""
        rows = await self._db.run(
            lambda c: c.execute(f"{_TK} WHERE tenant_id = ? ORDER BY version", (tenant_id,))
            .fetchall()
        )
        return [_tenant(r) for r in rows]

    async def add_tenant_key(self, record: TenantKeyRecord) -> bool:
        """Insert a version if absent."""
        r = record
        return bool(
            await self._db.run(
                lambda c: c.execute(
                    "INSERT INTO tenant_key VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (r.tenant_id, r.version, r.root_version, r.wrapped, int(r.destroyed)),
                ).rowcount
            )
        )

    async def rewrap_tenant_key(
        self, tenant_id: str, version: int, root_version: int, wrapped: bytes
    ) -> None:
        """Replace one version's wrapping (not of a destroyed tenant)."""
        await self._db.run(
            lambda c: c.execute(
                "UPDATE tenant_key SET root_version = ?, wrapped = ? "
                "WHERE tenant_id = ? AND version = ? AND destroyed = 0",
                (root_version, wrapped, tenant_id, version),
            )
        )

    async def retire_tenant_key(self, tenant_id: str, version: int) -> None:
        """Remove an old version."""
        await self._db.run(
            lambda c: c.execute(
                "DELETE FROM tenant_key WHERE tenant_id = ? AND version = ? AND destroyed = 0",
                (tenant_id, version),
            )
        )

    async def destroy_tenant(self, tenant_id: str) -> None:
        """Wipe every version; keep a destroyed marker (version 0 if it had none)."""

        def _destroy(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE tenant_key SET wrapped = x'', destroyed = 1 WHERE tenant_id = ?",
                (tenant_id,),
            )
            c.execute(
                "INSERT INTO tenant_key VALUES (?, 0, 0, x'', 1) ON CONFLICT DO NOTHING",
                (tenant_id,),
            )

        await self._db.run(_destroy)
        await self._checkpoint()

    async def all_tenant_keys(self) -> list[TenantKeyRecord]:
        """Every tenant key version."""
        rows = await self._db.run(lambda c: c.execute(_TK).fetchall())
        return [_tenant(r) for r in rows]

    async def data_key(self, tenant_id: str, key_id: str) -> DataKeyRecord | None:
        """One data key, or None."""
        row = await self._db.run(
            lambda c: c.execute(
                f"{_DK} WHERE tenant_id = ? AND key_id = ?", (tenant_id, key_id)
            ).fetchone()
        )
        return None if row is None else _data(row)

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        """Insert a data key if absent."""
        r = record
        return bool(
            await self._db.run(
                lambda c: c.execute(
                    "INSERT INTO data_key VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (r.tenant_id, r.key_id, r.data_class, r.object_id, r.tenant_version,
                     r.wrapped, int(r.deleted)),
                ).rowcount
            )
        )

    async def rewrap_data_key(
        self, tenant_id: str, key_id: str, tenant_version: int, wrapped: bytes
    ) -> None:
        """Replace a data key's wrapping unless it was destroyed meanwhile."""
        await self._db.run(
            lambda c: c.execute(
                "UPDATE data_key SET tenant_version = ?, wrapped = ? "
                "WHERE tenant_id = ? AND key_id = ? AND length(wrapped) > 0",
                (tenant_version, wrapped, tenant_id, key_id),
            )
        )

    async def all_data_keys(self) -> list[DataKeyRecord]:
        """Every data key not yet destroyed."""
        rows = await self._db.run(
            lambda c: c.execute(f"{_DK} WHERE length(wrapped) > 0").fetchall()
        )
        return [_data(r) for r in rows]

    async def schedule_destruction(self, tenant_id: str, key_id: str, due: float) -> None:
        """Mark deleted and add the schedule row, in one transaction."""

        def _schedule(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE data_key SET deleted = 1 WHERE tenant_id = ? AND key_id = ?",
                (tenant_id, key_id),
            )
            c.execute(
                "INSERT INTO key_destruction VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (due, tenant_id, key_id),
            )

        await self._db.run(_schedule)

    async def due_destructions(self, until: float, limit: int = 1000) -> list[Destruction]:
        """Due rows, earliest first."""
        rows = await self._db.run(
            lambda c: c.execute(
                "SELECT due, tenant_id, key_id FROM key_destruction WHERE due <= ? "
                "ORDER BY due LIMIT ?",
                (until, limit),
            ).fetchall()
        )
        return [Destruction(float(r[0]), r[1], r[2]) for r in rows]

    async def destroy_data_key(self, destruction: Destruction) -> None:
        """Wipe the wrapped key and drop the schedule row."""
        d = destruction

        def _destroy(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE data_key SET wrapped = x'', deleted = 1 WHERE tenant_id = ? AND key_id = ?",
                (d.tenant_id, d.key_id),
            )
            c.execute(
                "DELETE FROM key_destruction WHERE tenant_id = ? AND key_id = ?",
                (d.tenant_id, d.key_id),
            )

        await self._db.run(_destroy)
        await self._checkpoint()

    async def checkpoint(self) -> None:
        """Fold the WAL into the file and truncate it (old key pages leave the WAL)."""
        await self._checkpoint()

    async def _checkpoint(self) -> None:
        await self._db.checkpoint()

    async def close(self) -> None:
        """Close the file."""
        await self._db.close()

"""Where wrapped keys live: the :class:`KeyStore` contract and its records.

A key store holds only *wrapped* keys: tenant keys wrapped by a root version, data keys
wrapped by a tenant key version. It also holds the destruction schedule: a deleted object's
data key gets a row due at the end of the backup window, and the sweeper
(:mod:`fabric.vault.shredding`) wipes the wrapped key when the row is due. The schedule is
durable (a row in the store, not a timer in a process), so a restart loses no destruction.

Ciphertext and keys live apart: content and records sit in their own files or tables, the
wrapped data keys here. A copy of the content taken before a deletion holds no data key, so
once the key is wiped here that copy cannot be decrypted. Backups of the key store itself
must be kept no longer than the backup window (the README says so).

Backends: :mod:`fabric.vault.sqlite_keys` (embedded) and :mod:`fabric.vault.cassandra_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class TenantKeyRecord:
    """One version of a tenant key, wrapped by root version ``root_version``.

    ``destroyed`` (with an empty ``wrapped``) marks a tenant whose keys were destroyed.
    """

    tenant_id: str
    version: int
    root_version: int
    wrapped: bytes
    destroyed: bool = False


@dataclass(frozen=True, slots=True)
class DataKeyRecord:
    """A data key, wrapped by tenant key ``tenant_version``, bound to one object.

    ``deleted`` is set when its object is deleted (the key no longer unwraps through the
    vault); ``wrapped`` is emptied when the key is destroyed at the end of the window.
    """

    tenant_id: str
    key_id: str
    data_class: str
    object_id: str
    tenant_version: int
    wrapped: bytes
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Destruction:
    """A scheduled destruction of one data key at ``due`` (unix seconds)."""

    due: float
    tenant_id: str
    key_id: str


@runtime_checkable
class KeyStore(Protocol):
    """Wrapped tenant and data keys, and the destruction schedule."""

    async def tenant_keys(self, tenant_id: str) -> list[TenantKeyRecord]:
        """Every version of the tenant's key, ascending (empty when it has none yet)."""
        ...

    async def add_tenant_key(self, record: TenantKeyRecord) -> bool:
        """Insert a version if absent; False when that version already exists."""
        ...

    async def rewrap_tenant_key(
        self, tenant_id: str, version: int, root_version: int, wrapped: bytes
    ) -> None:
        """Replace the wrapping of one tenant key version."""
        ...

    async def retire_tenant_key(self, tenant_id: str, version: int) -> None:
        """Remove an old tenant key version that no data key is wrapped under."""
        ...

    async def destroy_tenant(self, tenant_id: str) -> None:
        """Wipe every version of the tenant's key, leaving a destroyed marker."""
        ...

    async def all_tenant_keys(self) -> list[TenantKeyRecord]:
        """Every tenant key version of every tenant (re-wrap)."""
        ...

    async def data_key(self, tenant_id: str, key_id: str) -> DataKeyRecord | None:
        """One data key, or None."""
        ...

    async def add_data_key(self, record: DataKeyRecord) -> bool:
        """Insert a data key if absent; False when the key id already exists."""
        ...

    async def rewrap_data_key(
        self, tenant_id: str, key_id: str, tenant_version: int, wrapped: bytes
    ) -> None:
        """Replace the wrapping of one data key (not once it is destroyed)."""
        ...

    async def all_data_keys(self) -> list[DataKeyRecord]:
        """Every data key that is not destroyed (re-wrap)."""
        ...

    async def schedule_destruction(self, tenant_id: str, key_id: str, due: float) -> None:
        """Mark the data key deleted and schedule its destruction at ``due``."""
        ...

    async def due_destructions(self, until: float, limit: int = 1000) -> list[Destruction]:
        """Scheduled destructions due at or before ``until``, earliest first."""
        ...

    async def destroy_data_key(self, destruction: Destruction) -> None:
        """Wipe the wrapped data key and remove its schedule row."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

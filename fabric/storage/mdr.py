"""Message detail records (MDRs): the metadata of every SMS, kept 7 years like CDRs.

One record per message and side (the sender's tenant keeps an ``outbound`` record, the
recipient's an ``inbound`` one, under the same message id): from, to, time, segments,
encoding and final status. Bodies are never here (they are sealed in the content store).
The two numbers are sealed together with the tenant's ``mdr`` record key, bound to the
message id, and each is also kept as the tenant's keyed blind index (as for CDRs,
:mod:`fabric.storage.cdr_seal`), so no number is on disk in plaintext. A record outlives the
deletion of its message (the retention period is regulatory).

Backends: :mod:`fabric.storage.sqlite_mdr` (``mdr.sqlite3`` under the data folder, purged of
records older than 7 years on open) and :mod:`fabric.storage.cassandra_mdr` (migration 008,
7-year TTL).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from fabric.errors import InvalidArgument
from fabric.storage.cdr_seal import TenantRecordKeys
from fabric.vault.vault import Vault

DATA_CLASS = "mdr"
RETENTION_S = 2557 * 86400  # 7 years, as CDRs
DIRECTIONS = ("inbound", "outbound")
STATUSES = ("accepted", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class Mdr:
    """One message detail record."""

    tenant_id: str
    message_id: str
    direction: str  # "inbound" | "outbound"
    from_number: str
    to_number: str
    sent_at_ms: int
    segments: int
    encoding: str  # "gsm7" | "ucs2"
    status: str  # "accepted" | "delivered" | "failed"

    def validate(self) -> None:
        """Refuse a record that cannot be stored (INVALID_ARGUMENT mdr-invalid)."""
        ok = (
            bool(self.tenant_id)
            and len(self.message_id) == 32
            and self.direction in DIRECTIONS
            and self.status in STATUSES
            and self.segments >= 1
            and self.sent_at_ms > 0
        )
        if not ok:
            raise InvalidArgument("a message detail record is incomplete", error_id="mdr-invalid")


@dataclass(frozen=True, slots=True)
class SealedMdrNumbers:
    """What a store keeps of a record's numbers."""

    from_index: str
    to_index: str
    sealed: bytes


class MdrSealer:
    """Seals and opens the numbers of MDRs through the vault (keys cached per tenant)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._tenant = TenantRecordKeys(vault, DATA_CLASS).get

    async def seal(self, mdr: Mdr) -> SealedMdrNumbers:
        """Blind indexes and the sealed pair of numbers of a record."""
        indexer, sealer = await self._tenant(mdr.tenant_id)
        blob = sealer.seal(mdr.message_id, f"{mdr.from_number}\n{mdr.to_number}".encode())
        return SealedMdrNumbers(
            indexer.index(mdr.from_number), indexer.index(mdr.to_number), blob
        )

    async def open(self, mdr: Mdr, sealed: bytes) -> Mdr:
        """The record with its numbers restored."""
        _, sealer = await self._tenant(mdr.tenant_id)
        pair = sealer.open(mdr.message_id, sealed).decode()
        from_number, _, to_number = pair.partition("\n")
        return replace(mdr, from_number=from_number, to_number=to_number)


@runtime_checkable
class MdrStore(Protocol):
    """Where message detail records live: one row per (tenant, message id), 7 years."""

    async def write(self, mdr: Mdr) -> None:
        """Write (or rewrite, idempotently by tenant and message id) a record."""
        ...

    async def list(
        self, tenant_id: str, since_ms: int, until_ms: int, limit: int = 100
    ) -> list[Mdr]:
        """A tenant's records with ``since_ms <= sent_at_ms < until_ms``, newest first."""
        ...

    async def close(self) -> None:
        """Release files and connections."""
        ...

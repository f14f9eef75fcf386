"""Sealed numbers in CDRs: what every CDR store writes instead of the plain numbers.

A CDR's two numbers are sealed together with the tenant's ``cdr`` record key
(:meth:`fabric.vault.vault.Vault.record_sealer`, AES-256-GCM, bound to tenant and call id),
and each number is also stored as a keyed blind index: HMAC-SHA256 under the tenant's index
key, truncated to 128 bits (:class:`fabric.vault.vault.BlindIndexer`). The store filters
``QueryCdrs(number=...)`` by comparing the blind index of the asked number with the stored
ones, so the number filter works and no number is on disk in plaintext. The index is
deterministic per tenant (equal numbers give equal indexes, which is what makes the filter
work) and differs between tenants; without the tenant's key it cannot be reversed by
hashing every possible number.

Everything else in a CDR (times, durations, disposition, media statistics, node ids) is not
personal and stays in the clear, so billing and paging work on it directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from fabric.cdr import Cdr
from fabric.vault.vault import BlindIndexer, RecordSealer, Vault

DATA_CLASS = "cdr"


@dataclass(frozen=True, slots=True)
class SealedNumbers:
    """What a store keeps of a CDR's numbers."""

    from_index: str
    to_index: str
    sealed: bytes


class TenantRecordKeys:
    """A tenant's blind indexer and record sealer of one data class, held as long as the vault
    caches keys and dropped when the vault drops its keys (a tenant destroyed). Shared by the
    CDR and MDR sealers."""

    def __init__(self, vault: Vault, data_class: str) -> None:
        self.vault = vault
        self.data_class = data_class
        self._keys: dict[str, tuple[BlindIndexer, RecordSealer, float]] = {}
        self._generation = vault.generation

    async def get(self, tenant_id: str) -> tuple[BlindIndexer, RecordSealer]:
        """The tenant's indexer and sealer."""
        if self._generation != self.vault.generation:  # keys dropped (a tenant destroyed)
            self._keys.clear()
            self._generation = self.vault.generation
        held = self._keys.get(tenant_id)
        if held is not None and held[2] > time.monotonic():
            return held[0], held[1]
        indexer = await self.vault.indexer(tenant_id)
        sealer = await self.vault.record_sealer(tenant_id, self.data_class)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[tenant_id] = (indexer, sealer, time.monotonic() + self.vault.key_cache_s)
        return indexer, sealer


class CdrSealer:
    """Seals and opens the numbers of CDRs through the vault."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._tenant = TenantRecordKeys(vault, DATA_CLASS).get

    async def seal(self, cdr: Cdr) -> SealedNumbers:
        """Blind indexes and the sealed pair of numbers of a (validated) CDR."""
        indexer, sealer = await self._tenant(cdr.tenant_id)
        blob = sealer.seal(cdr.call_id, f"{cdr.from_number}\n{cdr.to_number}".encode())
        return SealedNumbers(indexer.index(cdr.from_number), indexer.index(cdr.to_number), blob)

    async def index(self, tenant_id: str, number: str) -> str:
        """The blind index of a number for a tenant (the query filter)."""
        return (await self._tenant(tenant_id))[0].index(number)

    async def open(self, cdr: Cdr, sealed: bytes) -> Cdr:
        """The CDR with its numbers restored from ``sealed``."""
        _, sealer = await self._tenant(cdr.tenant_id)
        from_number, _, to_number = sealer.open(cdr.call_id, sealed).decode().partition("\n")
        return replace(cdr, from_number=from_number, to_number=to_number)

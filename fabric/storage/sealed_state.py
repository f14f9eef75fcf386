"""Actor state sealed at rest: a :class:`StateStore` wrapper that seals every blob.

Every state blob is sealed with AES-256-GCM under the vault's record key of the platform
owner (``SYSTEM_TENANT``, class ``actor-state``), with the actor's address ``kind/key`` as
associated data: a state blob copied to another actor fails to open. This covers whatever
actors persist (tenant settings and users, call state with its media offers and SRTP
keys, number directories) without touching the actors; the stores below never see
plaintext. State written before sealing existed (no vault header) is read as is and sealed
by the next save. The compare-and-set on ``version`` is the inner store's, unchanged; so
are the claims and fenced writes of a :class:`FencedStateStore` (``SealedFencedStateStore``).
"""

from __future__ import annotations

from collections.abc import Mapping

from fabric.storage.base import (
    Fence,
    FencedStateStore,
    ReminderChange,
    StateStore,
    StoredState,
)
from fabric.vault.crypto import MAGIC
from fabric.vault.vault import SYSTEM_TENANT, Vault

DATA_CLASS = "actor-state"


class SealedStateStore:
    """Seals on save, opens on load; otherwise the inner store."""

    def __init__(self, inner: StateStore, vault: Vault) -> None:
        self.inner = inner
        self._vault = vault

    async def load(self, kind: str, key: str) -> StoredState | None:
        """The opened state, or None."""
        stored = await self.inner.load(kind, key)
        if stored is None or not stored.data.startswith(MAGIC):
            return stored  # none, or written before sealing (sealed again on next save)
        data = await self._vault.open(SYSTEM_TENANT, DATA_CLASS, f"{kind}/{key}", stored.data)
        return StoredState(data, stored.version)

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        """Seal, then compare-and-set in the inner store."""
        sealed = await self._vault.seal(SYSTEM_TENANT, DATA_CLASS, f"{kind}/{key}", bytes(data))
        return await self.inner.save(kind, key, sealed, expected_version)

    async def delete(self, kind: str, key: str) -> None:
        """Forget the actor's state."""
        await self.inner.delete(kind, key)

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()


class SealedFencedStateStore(SealedStateStore):
    """A :class:`SealedStateStore` over a :class:`FencedStateStore`: fenced writes sealed."""

    def __init__(self, inner: FencedStateStore, vault: Vault) -> None:
        super().__init__(inner, vault)
        self.fenced: FencedStateStore = inner

    async def claim(self, kind: str, key: str) -> Fence:
        """The inner store's claim."""
        return await self.fenced.claim(kind, key)

    async def write(
        self, fence: Fence, data: bytes | None, reminders: tuple[ReminderChange, ...] = ()
    ) -> int:
        """Seal, then the inner store's fenced write."""
        sealed = None if data is None else await self._vault.seal(
            SYSTEM_TENANT, DATA_CLASS, f"{fence.kind}/{fence.key}", bytes(data))
        return await self.fenced.write(fence, sealed, reminders)

    async def change_reminders(
        self, kind: str, key: str, reminders: tuple[ReminderChange, ...]
    ) -> None:
        """The inner store's reminder changes."""
        await self.fenced.change_reminders(kind, key, reminders)

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        """The inner store's reminders of the actor."""
        return await self.fenced.reminders_of(kind, key)

    async def release(self, fence: Fence) -> None:
        """The inner store's release."""
        await self.fenced.release(fence)

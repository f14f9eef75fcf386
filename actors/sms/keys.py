"""Conversation actor keys that name no phone number.

An actor's key is stored in the clear (the state store's key column, Cassandra's partition
key), so a conversation cannot be keyed by its numbers. Its key is ``tenant|<index>``, where
the index is the tenant's keyed blind index (HMAC-SHA256 under the tenant's index key, the
one CDR numbers use) of ``own>other``: stable, so both the API and the other side find the
same actor, and not reversible without the tenant's key. The numbers themselves live only in
the conversation's sealed state.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fabric.actor import ActorAddress
from fabric.vault.vault import Vault

KIND = "sms-conv"


@runtime_checkable
class ConversationKeys(Protocol):
    """Makes the address of a conversation from its tenant and numbers."""

    async def address(self, tenant_id: str, own_number: str, other_number: str) -> ActorAddress:
        """The conversation of ``tenant_id``'s ``own_number`` with ``other_number``."""
        ...


class VaultConversationKeys:
    """Conversation keys from the tenant's blind indexer (the vault caches the key)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    async def address(self, tenant_id: str, own_number: str, other_number: str) -> ActorAddress:
        """``tenant|HMAC(own>other)``: see the module doc."""
        indexer = await self.vault.indexer(tenant_id)
        return ActorAddress(KIND, f"{tenant_id}|{indexer.index(f'{own_number}>{other_number}')}")

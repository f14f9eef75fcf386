"""How a host process opens the actor state and reminder stores.

The default factory uses the storage package's ``fabric.storage.factory.open_stores`` (the
configured backend: embedded SQLite or Cassandra) and keeps the whole set open so that it
is closed together at host shutdown. A system can name another factory ("module:attr", an
async function of the settings returning :class:`RuntimeStores`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fabric.config import FabricSettings
from fabric.storage.base import ReminderStore, StateStore
from fabric.storage.factory import open_stores


@dataclass(slots=True)
class RuntimeStores:
    """The stores actors of one host use, and what to close at shutdown."""

    state: StateStore
    reminders: ReminderStore
    owner: Any = None  # an object with ``async close()`` owning both (e.g. storage Stores)

    async def close(self) -> None:
        """Close the stores (once each)."""
        if self.owner is not None:
            await self.owner.close()
            return
        await self.state.close()
        if self.reminders is not self.state:
            await self.reminders.close()


async def open_runtime_stores(settings: FabricSettings) -> RuntimeStores:
    """Open the state and reminder stores this process's actors use."""
    stores = await open_stores(settings.storage)
    return RuntimeStores(stores.state, stores.reminders, owner=stores)

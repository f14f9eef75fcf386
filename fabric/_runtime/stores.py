"""How a host process opens the actor state and reminder stores.

The default factory uses the storage package's ``fabric.storage.factory.open_stores`` (the
configured backend: embedded SQLite or Cassandra) and keeps the whole set open so that it
is closed together at host shutdown. Without that module (an early checkout), the runtime's
own shared SQLite file under ``storage.data_dir`` serves. A system can name another
factory ("module:attr", an async function of the settings returning
:class:`RuntimeStores`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from fabric._runtime.sqlite_fallback import SqliteRuntimeStore
from fabric.config import FabricSettings
from fabric.storage.base import ReminderStore, StateStore


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
    try:
        factory: Any = importlib.import_module("fabric.storage.factory")
    except ImportError:
        factory = None
    if factory is not None and hasattr(factory, "open_stores"):
        stores = await factory.open_stores(settings.storage)
        return RuntimeStores(stores.state, stores.reminders, owner=stores)
    store = SqliteRuntimeStore(settings.storage.data_dir / "runtime.sqlite3")
    return RuntimeStores(store, store)

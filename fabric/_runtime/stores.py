"""How a host process opens the actor state and reminder stores.

The default factory uses the storage package's ``fabric.storage.factory.open_stores`` (the
configured backend: embedded SQLite or Cassandra) when it exists, and otherwise the
runtime's own shared SQLite file under ``storage.data_dir``. A system can name another
factory ("module:attr", an async function of the settings returning (state, reminders)).
"""

from __future__ import annotations

import importlib
from typing import Any

from fabric._runtime.sqlite_fallback import SqliteRuntimeStore
from fabric.config import FabricSettings
from fabric.storage.base import ReminderStore, StateStore


async def open_runtime_stores(settings: FabricSettings) -> tuple[StateStore, ReminderStore]:
    """Open the state and reminder stores this process's actors use."""
    try:
        factory: Any = importlib.import_module("fabric.storage.factory")
    except ImportError:
        factory = None
    if factory is not None and hasattr(factory, "open_stores"):
        stores = factory.open_stores(settings.storage)
        if hasattr(stores, "__await__"):
            stores = await stores
        return stores.state, stores.reminders
    store = SqliteRuntimeStore(settings.storage.data_dir / "runtime.sqlite3")
    return store, store

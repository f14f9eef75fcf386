"""The ``world`` fixture: every privacy test runs on both backends (embedded SQLite files,
and the shared Cassandra node with ``-m cassandra``) on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from privacy_world import World, open_world

from fabric.config import StorageSettings, VaultSettings
from fabric.storage.factory import open_stores
from fabric.testing import ManualClock

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]


@pytest.fixture(params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    clock = ManualClock(1_780_000_000.0)
    vault_settings = VaultSettings(root_key_file=tmp_path / "keys" / "root.key")
    if request.param == "cassandra":
        settings: StorageSettings = request.getfixturevalue("own_cassandra_settings")
        settings = settings.model_copy(update={"spool_dir": tmp_path / "spool"})
        # one root key for the module's own keyspace (it wraps the shared platform key)
        vault_settings = VaultSettings(root_key_file=settings.data_dir / "keys" / "root.key")
        stores = await open_stores(settings, apply_schema=False, vault_settings=vault_settings,
                                   sweep=False, clock=clock)
    else:
        settings = StorageSettings(backend="embedded", data_dir=tmp_path / "data")
        stores = await open_stores(settings, vault_settings=vault_settings, sweep=False,
                                   clock=clock)
    w = await open_world(stores, clock)
    try:
        yield w
    finally:
        await w.system.stop()
        await stores.close()

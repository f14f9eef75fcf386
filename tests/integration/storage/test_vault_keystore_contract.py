"""The vault over both key stores (embedded SQLite, Cassandra): rotation and re-wrap while
sealing, a retired version, tenant destruction, and the destruction schedule on a manual
clock. Each test runs once per backend against real storage; tenants are random."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabric.clock import ManualClock
from fabric.config import StorageSettings, VaultSettings
from fabric.storage.cassandra_session import CassandraConnection, connect_sync
from fabric.vault.errors import VaultKeyDestroyed, VaultKeyVersionMissing
from fabric.vault.factory import open_vault
from fabric.vault.shredding import KeySweeper
from fabric.vault.vault import Vault

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]
DAY = 86400.0


def _tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
async def vault(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Vault]:
    settings = VaultSettings(root_key_file=tmp_path / "keys" / "root.key", key_cache_s=0)
    conn: CassandraConnection | None = None
    if request.param == "cassandra":
        storage: StorageSettings = request.getfixturevalue("cassandra_settings")
        conn = connect_sync(storage)
    else:
        storage = StorageSettings(backend="embedded", data_dir=tmp_path / "data")
    v = await open_vault(storage, settings, connection=conn, clock=clock)
    yield v
    await v.close()
    if conn is not None:
        conn.shutdown()


async def test_rotate_and_rewrap_keep_everything_readable(vault: Vault) -> None:
    tenant = _tenant()
    old = await vault.seal(tenant, "cdr", "call-1", b"old")
    key = await vault.new_data_key(tenant, "voicemail", "vm-1")
    root = await vault.rotate_root()
    version = await vault.rotate_tenant(tenant)
    assert version == 2
    new = await vault.seal(tenant, "cdr", "call-2", b"new")
    await vault.rewrap()
    records = await vault.keys.tenant_keys(tenant)
    assert {r.root_version for r in records} == {root}
    data = await vault.keys.data_key(tenant, key.key_id)
    assert data is not None and data.tenant_version == 2
    assert await vault.open(tenant, "cdr", "call-1", old) == b"old"
    assert await vault.open(tenant, "cdr", "call-2", new) == b"new"
    assert (await vault.open_data_key(tenant, "voicemail", "vm-1", key.key_id)).key_id


async def test_retired_tenant_version_is_a_clear_error(vault: Vault) -> None:
    tenant = _tenant()
    key = await vault.new_data_key(tenant, "voicemail", "vm-1")
    await vault.rotate_tenant(tenant)
    await vault.keys.retire_tenant_key(tenant, 1)
    with pytest.raises(VaultKeyVersionMissing):
        await vault.open_data_key(tenant, "voicemail", "vm-1", key.key_id)


async def test_destroyed_tenant_reads_nothing(vault: Vault) -> None:
    tenant = _tenant()
    blob = await vault.seal(tenant, "cdr", "call-1", b"x")
    await vault.destroy_tenant(tenant)
    with pytest.raises(VaultKeyDestroyed):
        await vault.open(tenant, "cdr", "call-1", blob)
    with pytest.raises(VaultKeyDestroyed):  # and no fresh key is made for it
        await vault.seal(tenant, "cdr", "call-2", b"y")


async def test_destruction_runs_when_due(vault: Vault, clock: ManualClock) -> None:
    tenant = _tenant()
    key = await vault.new_data_key(tenant, "recording", "r-1")
    await vault.delete_data_key(tenant, key.key_id)
    with pytest.raises(VaultKeyDestroyed):  # unusable at once
        await vault.open_data_key(tenant, "recording", "r-1", key.key_id)
    sweeper = KeySweeper(vault.keys, clock)
    await sweeper.sweep_once()
    record = await vault.keys.data_key(tenant, key.key_id)
    assert record is not None and record.wrapped  # kept inside the window
    await clock.advance(vault.backup_window_s + 1)
    assert await sweeper.sweep_once() >= 1
    record = await vault.keys.data_key(tenant, key.key_id)
    assert record is not None and record.wrapped == b""
    assert await vault.keys.due_destructions(clock.now()) == [] or all(
        d.key_id != key.key_id for d in await vault.keys.due_destructions(clock.now())
    )

"""The key hierarchy: root file provider, tenant and data keys, record sealing, rotation.

Runs on the embedded key store in a temporary folder (real SQLite, no network).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabric.vault.errors import (
    VaultContextMismatch,
    VaultKeyDestroyed,
    VaultKeyVersionMissing,
    VaultTampered,
)
from fabric.vault.provider import LocalFileKeyProvider
from fabric.vault.sqlite_keys import SqliteKeyStore
from fabric.vault.vault import BlindIndexer, Vault


@pytest.fixture()
async def vault(tmp_path: Path) -> AsyncIterator[Vault]:
    v = Vault(
        LocalFileKeyProvider(tmp_path / "keys" / "root.key"),
        SqliteKeyStore(tmp_path / "data" / "vault.sqlite3"),
        key_cache_s=0,  # every call reads the store: rotation elsewhere is seen at once
    )
    yield v
    await v.close()


async def test_root_key_file_is_private_and_created_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "root.key"
    first, second = LocalFileKeyProvider(path), LocalFileKeyProvider(path)
    wrapped = await first.wrap(b"k" * 32, b"ctx")
    assert await second.unwrap(wrapped, b"ctx") == b"k" * 32  # same root key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_seal_and_open_round_trip(vault: Vault) -> None:
    blob = await vault.seal("acme", "cdr", "call-1", b"+15551234567")
    assert b"+15551234567" not in blob
    assert await vault.open("acme", "cdr", "call-1", blob) == b"+15551234567"


@pytest.mark.parametrize(
    ("tenant", "data_class", "object_id"),
    [("other", "cdr", "call-1"), ("acme", "cdr", "call-2"), ("acme", "actor-state", "call-1")],
)
async def test_wrong_context_is_refused(
    vault: Vault, tenant: str, data_class: str, object_id: str
) -> None:
    blob = await vault.seal("acme", "cdr", "call-1", b"secret")
    with pytest.raises(VaultContextMismatch) as err:
        await vault.open(tenant, data_class, object_id, blob)
    assert err.value.error_id == "vault-context-mismatch"


@pytest.mark.parametrize("position", [0, 5, 20, -1])
async def test_tampered_record_is_refused(vault: Vault, position: int) -> None:
    blob = bytearray(await vault.seal("acme", "cdr", "call-1", b"secret"))
    blob[position] ^= 0x01
    with pytest.raises((VaultTampered, VaultContextMismatch)):
        await vault.open("acme", "cdr", "call-1", bytes(blob))


async def test_tampered_body_says_tampered(vault: Vault) -> None:
    blob = bytearray(await vault.seal("acme", "cdr", "call-1", b"secret"))
    blob[-3] ^= 0x80
    with pytest.raises(VaultTampered) as err:
        await vault.open("acme", "cdr", "call-1", bytes(blob))
    assert err.value.error_id == "vault-tampered"


async def test_data_key_bound_to_its_object(vault: Vault) -> None:
    key = await vault.new_data_key("acme", "voicemail", "vm-1")
    opened = await vault.open_data_key("acme", "voicemail", "vm-1", key.key_id)
    nonce = os.urandom(12)
    assert opened.aead.decrypt(nonce, key.aead.encrypt(nonce, b"x", None), None) == b"x"
    for args in (("other", "voicemail", "vm-1"), ("acme", "voicemail", "vm-2"),
                 ("acme", "recording", "vm-1")):
        with pytest.raises(VaultContextMismatch):
            await vault.open_data_key(*args, key.key_id)


async def test_missing_root_version_is_a_clear_error(vault: Vault) -> None:
    blob = await vault.seal("acme", "cdr", "call-1", b"secret")
    await vault.rotate_root()
    await vault.provider.retire(1)  # retired before re-wrapping: the tenant key is stuck
    with pytest.raises(VaultKeyVersionMissing) as err:
        await vault.open("acme", "cdr", "call-1", blob)
    assert err.value.error_id == "vault-key-version-missing"


async def test_missing_tenant_version_is_a_clear_error(vault: Vault) -> None:
    key = await vault.new_data_key("acme", "voicemail", "vm-1")
    await vault.rotate_tenant("acme")
    await vault.keys.retire_tenant_key("acme", 1)  # dropped without re-wrapping
    with pytest.raises(VaultKeyVersionMissing):
        await vault.open_data_key("acme", "voicemail", "vm-1", key.key_id)


async def test_rotation_then_rewrap_keeps_everything_readable(vault: Vault) -> None:
    blob = await vault.seal("acme", "cdr", "call-1", b"before")
    key = await vault.new_data_key("acme", "voicemail", "vm-1")
    index = (await vault.indexer("acme")).index("+15551234567")
    assert await vault.rotate_root() == 2
    assert await vault.rotate_tenant("acme") == 2
    after = await vault.seal("acme", "cdr", "call-2", b"after")
    report = await vault.rewrap(retire=True)
    assert report.tenant_keys_rewrapped >= 1 and report.data_keys_rewrapped >= 1
    assert report.root_versions_retired == [1]
    assert report.tenant_versions_retired == 1
    assert await vault.provider.versions() == [2]
    assert [r.version for r in await vault.keys.tenant_keys("acme")] == [2]
    assert await vault.open("acme", "cdr", "call-1", blob) == b"before"
    assert await vault.open("acme", "cdr", "call-2", after) == b"after"
    assert (await vault.open_data_key("acme", "voicemail", "vm-1", key.key_id)).key_id
    assert (await vault.indexer("acme")).index("+15551234567") == index  # search still works


async def test_rotation_while_reading_and_writing(vault: Vault) -> None:
    sealed: dict[str, bytes] = {}
    stop = asyncio.Event()
    failures: list[BaseException] = []

    async def worker(w: int) -> None:
        i = 0
        while not stop.is_set():
            oid = f"o-{w}-{i}"
            sealed[oid] = await vault.seal("acme", "cdr", oid, oid.encode())
            for other, blob in list(sealed.items())[-20:]:
                try:
                    assert await vault.open("acme", "cdr", other, blob) == other.encode()
                except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                    failures.append(exc)
            i += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(worker(w)) for w in range(3)]
    for _ in range(3):
        await vault.rotate_root()
        await vault.rotate_tenant("acme")
        await vault.rewrap(retire=True)
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*tasks)
    assert not failures
    assert len(sealed) > 10
    for oid, blob in sealed.items():
        assert await vault.open("acme", "cdr", oid, blob) == oid.encode()


async def test_destroyed_tenant_cannot_open_anything(vault: Vault) -> None:
    blob = await vault.seal("acme", "cdr", "call-1", b"secret")
    key = await vault.new_data_key("acme", "voicemail", "vm-1")
    await vault.destroy_tenant("acme")
    with pytest.raises(VaultKeyDestroyed):
        await vault.open("acme", "cdr", "call-1", blob)
    with pytest.raises(VaultKeyDestroyed):
        await vault.open_data_key("acme", "voicemail", "vm-1", key.key_id)
    assert all(not r.wrapped for r in await vault.keys.tenant_keys("acme"))


async def test_retained_record_keys_outlive_the_tenant_key_until_destroyed(
    vault: Vault,
) -> None:
    cdr = await vault.seal("acme", "cdr", "call-1", b"+15551234567")
    index = (await vault.indexer("acme")).index("+15551234567")
    key = await vault.new_data_key("acme", "voicemail", "vm-1")
    assert await vault.retain_record_keys("acme", ("cdr", "mdr")) == 2  # cdr and the index
    assert await vault.retain_record_keys("acme", ("cdr", "mdr")) == 0  # idempotent
    await vault.destroy_tenant("acme")
    assert await vault.open("acme", "cdr", "call-1", cdr) == b"+15551234567"
    assert (await vault.indexer("acme")).index("+15551234567") == index  # still searchable
    with pytest.raises(VaultKeyDestroyed):  # content went with the tenant key
        await vault.open_data_key("acme", "voicemail", "vm-1", key.key_id)
    with pytest.raises(VaultKeyDestroyed):  # no new record key without a tenant key
        await vault.seal("acme", "mdr", "m-1", b"x")
    # a root rotation re-wraps them too; the old root version can then be retired
    await vault.rotate_root()
    report = await vault.rewrap(retire=True)
    assert report.failed == 0 and report.data_keys_rewrapped == 2
    assert len(report.root_versions_retired) == 1  # nothing uses the old root version now
    assert await vault.open("acme", "cdr", "call-1", cdr) == b"+15551234567"
    assert await vault.destroy_retained_keys("acme", ("cdr", "mdr")) == 2
    with pytest.raises(VaultKeyDestroyed):
        await vault.open("acme", "cdr", "call-1", cdr)
    with pytest.raises(VaultKeyDestroyed):
        await vault.indexer("acme")


def test_blind_index_is_hmac_sha256() -> None:
    for key in (b"k" * 32, b"x" * 100):
        expected = hmac.new(key, b"+15551234567", hashlib.sha256).digest()[:16].hex()
        assert BlindIndexer(key).index("+15551234567") == expected


async def test_blind_index_is_keyed_per_tenant(vault: Vault) -> None:
    a = (await vault.indexer("acme")).index("+15551234567")
    b = (await vault.indexer("globex")).index("+15551234567")
    assert a != b and len(a) == 32 and "5551234567" not in a

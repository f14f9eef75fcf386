"""Crypto-shredding on the embedded store, on a manual clock.

Deleting content makes it unreadable at once; its data key is destroyed only when the
backup window has passed (a durable schedule carried out by the sweeper, also after a
restart); after that, a copy of the content store taken before the deletion cannot be
decrypted. Destroying a tenant's keys makes all of its sealed data unreadable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fabric.cdr import Cdr, Direction, Disposition
from fabric.clock import ManualClock
from fabric.config import StorageSettings, VaultSettings
from fabric.errors import NotFound
from fabric.storage.factory import Stores, open_stores
from fabric.storage.sqlite_content import SqliteContentBackend
from fabric.vault.content import VOICEMAIL, ContentStore
from fabric.vault.errors import VaultKeyDestroyed
from fabric.vault.shredding import KeySweeper

DAY = 86400.0
MARKER = b"MARKER-shred-7f3a9c"


@pytest.fixture()
def settings(tmp_path: Path) -> tuple[StorageSettings, VaultSettings]:
    return (
        StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                        spool_dir=tmp_path / "spool"),
        VaultSettings(root_key_file=tmp_path / "keys" / "root.key", backup_window_days=30),
    )


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
async def stores(
    settings: tuple[StorageSettings, VaultSettings], clock: ManualClock
) -> AsyncIterator[Stores]:
    s = await open_stores(settings[0], vault_settings=settings[1], sweep=False, clock=clock)
    yield s
    await s.close()


def _copy_content(data_dir: Path, dest: Path) -> Path:
    """A backup of the content store: its SQLite file (checkpointed) and its chunk files."""
    dest.mkdir()
    for name in ("content.sqlite3", "content.sqlite3-wal"):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, dest / name)
    shutil.copytree(data_dir / "content", dest / "content")
    return dest


async def test_delete_now_then_key_destroyed_after_window_and_backup_unreadable(
    stores: Stores, settings: tuple[StorageSettings, VaultSettings], clock: ManualClock,
    tmp_path: Path,
) -> None:
    assert stores.content is not None and stores.vault is not None
    data = MARKER + os.urandom(100_000)
    await stores.content.put("acme", VOICEMAIL, "vm-1", data, {"from": "+15550002222"})
    backup = _copy_content(settings[0].data_dir, tmp_path / "backup")
    key_id = (await stores.content.backend.object("acme", VOICEMAIL, "vm-1")).key_id  # type: ignore[union-attr]
    wrapped = (await stores.vault.keys.data_key("acme", key_id)).wrapped  # type: ignore[union-attr]

    # before deletion the backup reads back (it is a faithful copy)
    restored = ContentStore(stores.vault, SqliteContentBackend(backup))
    assert await (await restored.open("acme", VOICEMAIL, "vm-1")).read_all() == data

    due = await stores.content.delete("acme", VOICEMAIL, "vm-1")
    assert due == pytest.approx(clock.now() + 30 * DAY)
    with pytest.raises(NotFound):  # unreadable at once, through the store...
        await stores.content.open("acme", VOICEMAIL, "vm-1")
    with pytest.raises(NotFound):  # ...and through the backup: the key refuses
        await restored.open("acme", VOICEMAIL, "vm-1")

    sweeper = KeySweeper(stores.vault.keys, clock)
    await clock.advance(29 * DAY)
    assert await sweeper.sweep_once() == 0  # inside the window the key is kept
    assert (await stores.vault.keys.data_key("acme", key_id)).wrapped == wrapped  # type: ignore[union-attr]

    await clock.advance(1 * DAY + 1)
    assert await sweeper.sweep_once() == 1
    assert (await stores.vault.keys.data_key("acme", key_id)).wrapped == b""  # type: ignore[union-attr]
    with pytest.raises(VaultKeyDestroyed) as err:
        await restored.open("acme", VOICEMAIL, "vm-1")
    assert err.value.error_id == "vault-key-destroyed"
    # the wrapped key's bytes are gone from the key store's files too (secure_delete, WAL
    # checkpointed), so no copy of the key store made from now on holds it
    for name in ("vault.sqlite3", "vault.sqlite3-wal"):
        path = settings[0].data_dir / name
        if path.exists():
            assert wrapped not in path.read_bytes(), name
    await restored.close()


async def test_schedule_survives_a_restart(
    settings: tuple[StorageSettings, VaultSettings], clock: ManualClock
) -> None:
    first = await open_stores(settings[0], vault_settings=settings[1], sweep=False, clock=clock)
    assert first.content is not None
    await first.content.put("acme", VOICEMAIL, "vm-2", b"bye")
    key_id = (await first.content.backend.object("acme", VOICEMAIL, "vm-2")).key_id  # type: ignore[union-attr]
    await first.content.delete("acme", VOICEMAIL, "vm-2")
    await first.close()

    await clock.advance(31 * DAY)
    second = await open_stores(settings[0], vault_settings=settings[1], sweep=False, clock=clock)
    try:
        assert second.vault is not None
        assert await KeySweeper(second.vault.keys, clock).sweep_once() == 1
        assert (await second.vault.keys.data_key("acme", key_id)).wrapped == b""  # type: ignore[union-attr]
    finally:
        await second.close()


async def test_destroying_a_tenant_makes_all_its_sealed_data_unreadable(
    stores: Stores, settings: tuple[StorageSettings, VaultSettings],
) -> None:
    assert stores.content is not None and stores.vault is not None
    await stores.content.put("acme", VOICEMAIL, "vm", b"hello")
    await stores.content.put("globex", VOICEMAIL, "vm", b"other tenant")
    start = datetime(2026, 5, 1, tzinfo=UTC)
    await stores.cdr.write(Cdr(
        call_id="c-1", tenant_id="acme", from_number="+15550003333", to_number="201",
        direction=Direction.INBOUND, start_time=start, end_time=start,
        disposition=Disposition.NO_ANSWER, hangup_cause="no-answer",
    ))
    await stores.vault.destroy_tenant("acme")
    with pytest.raises(VaultKeyDestroyed):
        await stores.content.open("acme", VOICEMAIL, "vm")
    with pytest.raises(VaultKeyDestroyed):
        await stores.cdr.get("acme", "c-1")
    assert await (await stores.content.open("globex", VOICEMAIL, "vm")).read_all() == (
        b"other tenant"
    )

"""A message between two numbers of one tenant keeps both its records (outbound and inbound,
one message id) on both backends, and records written before the side joined the key
(migration 008's table, the embedded store's old ``mdr`` table) are still listed."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabric.config import StorageSettings, VaultSettings
from fabric.storage.factory import Stores, open_stores
from fabric.storage.mdr import Mdr

NOW_MS = int(time.time() * 1000)
A, B = "+15550100001", "+15550100002"


def _pair(tenant_id: str) -> tuple[Mdr, Mdr]:
    mid = uuid.uuid4().hex
    return (Mdr(tenant_id, mid, "outbound", A, B, NOW_MS, 1, "gsm7", "delivered"),
            Mdr(tenant_id, mid, "inbound", A, B, NOW_MS, 1, "gsm7", "delivered"))


async def _open(settings: StorageSettings, tmp_path: Path) -> Stores:
    return await open_stores(settings, apply_schema=False, sweep=False,
                             vault_settings=VaultSettings(root_key_file=tmp_path / "root.key"))


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Stores]:
    settings = StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                               spool_dir=tmp_path / "spool")
    stores = await _open(settings, tmp_path)
    try:
        yield stores
    finally:
        await stores.close()


async def _both_sides_kept(stores: Stores) -> None:
    assert stores.mdr is not None
    tenant_id = f"t-{uuid.uuid4().hex[:10]}"
    outbound, inbound = _pair(tenant_id)
    await stores.mdr.write(outbound)
    await stores.mdr.write(inbound)
    await stores.mdr.write(inbound)  # a retry rewrites its own side only
    listed = await stores.mdr.list(tenant_id, NOW_MS - 60_000, NOW_MS + 60_000)
    assert sorted((m.message_id, m.direction, m.from_number, m.to_number) for m in listed) == [
        (outbound.message_id, "inbound", A, B), (outbound.message_id, "outbound", A, B)]


async def test_embedded_keeps_both_sides(embedded: Stores) -> None:
    await _both_sides_kept(embedded)


async def test_embedded_moves_records_of_the_old_table(tmp_path: Path) -> None:
    settings = StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                               spool_dir=tmp_path / "spool")
    stores = await _open(settings, tmp_path)
    outbound, _ = _pair("t-old")
    try:
        assert stores.mdr is not None
        await stores.mdr.write(outbound)
    finally:
        await stores.close()
    db = sqlite3.connect(tmp_path / "data" / "mdr.sqlite3")  # the file as it was before 017
    with db:
        db.execute("CREATE TABLE mdr AS SELECT * FROM mdr_v2")
        db.execute("DROP TABLE mdr_v2")
    db.close()
    stores = await _open(settings, tmp_path)
    try:
        assert stores.mdr is not None
        [moved] = await stores.mdr.list("t-old", NOW_MS - 60_000, NOW_MS + 60_000)
        assert (moved.message_id, moved.direction, moved.to_number) == (
            outbound.message_id, "outbound", B)
    finally:
        await stores.close()
    db = sqlite3.connect(tmp_path / "data" / "mdr.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert "mdr" not in tables and "mdr_v2" in tables


@pytest.mark.cassandra
async def test_cassandra_keeps_both_sides_and_reads_the_old_table(
    own_cassandra_settings: StorageSettings, tmp_path: Path
) -> None:
    from fabric.storage.cassandra_session import connect_sync

    stores = await _open(own_cassandra_settings, tmp_path)
    try:
        await _both_sides_kept(stores)
        assert stores.mdr is not None
        tenant_id = f"t-{uuid.uuid4().hex[:10]}"
        outbound, _ = _pair(tenant_id)
        await stores.mdr.write(outbound)
        conn = connect_sync(own_cassandra_settings)
        try:  # move the row to migration 008's table, as if written before 017
            columns = ("tenant_id, day, sent_at, message_id, direction, from_number, "
                       "to_number, sealed_numbers, segments, encoding, status")
            rows = list(conn.session.execute(
                f"SELECT {columns} FROM mdr_by_tenant_day_v2 WHERE tenant_id = %s "
                "ALLOW FILTERING", (tenant_id,)))
            assert len(rows) == 1
            conn.session.execute(
                f"INSERT INTO mdr_by_tenant_day ({columns}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", tuple(rows[0]))
            conn.session.execute(
                "DELETE FROM mdr_by_tenant_day_v2 WHERE tenant_id = %s AND day = %s",
                (tenant_id, rows[0].day))
        finally:
            conn.shutdown()
        [old] = await stores.mdr.list(tenant_id, NOW_MS - 60_000, NOW_MS + 60_000)
        assert (old.message_id, old.direction, old.from_number) == (
            outbound.message_id, "outbound", A)
    finally:
        await stores.close()

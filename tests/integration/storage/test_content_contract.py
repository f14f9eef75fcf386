"""One contract suite for the sealed content store on both backends (embedded, Cassandra).

Each test runs once per backend against real storage (a SQLite file and chunk files in a
temporary folder, or the test Cassandra keyspace); tests isolate themselves by random
tenant ids. Tampering is done on the raw storage (a byte flipped in a chunk file or a chunk
cell, a row moved to another tenant) to prove that damage fails clearly.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fabric.config import StorageSettings, VaultSettings
from fabric.errors import AlreadyExists, InvalidArgument, NotFound
from fabric.storage.cassandra_content import CassandraContentBackend
from fabric.storage.cassandra_session import CassandraConnection, connect_sync
from fabric.storage.sqlite_content import SqliteContentBackend
from fabric.vault.content import RECORDING, VOICEMAIL, ContentStore
from fabric.vault.errors import VaultContextMismatch, VaultTampered
from fabric.vault.factory import open_vault

BACKENDS = ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]
CHUNK = 64 * 1024


def _tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@dataclass
class Harness:
    """The store under test and raw access to what it wrote."""

    store: ContentStore
    backend: str
    data_dir: Path
    conn: CassandraConnection | None

    def flip_chunk_byte(self, key_id: str, chunk_no: int) -> None:
        """Flip one ciphertext byte of a stored chunk."""
        if self.conn is None:
            path = self.data_dir / "content" / key_id[:2] / key_id
            raw = bytearray(path.read_bytes())
            offset = chunk_no * (4 + CHUNK + 28) + 4 + 40
            raw[offset] ^= 0x01
            path.write_bytes(bytes(raw))
            return
        row = self.conn.session.execute(
            "SELECT data FROM content_chunks WHERE key_id = %s AND chunk_no = %s",
            (key_id, chunk_no),
        ).one()
        data = bytearray(row.data)
        data[40] ^= 0x01
        self.conn.session.execute(
            "INSERT INTO content_chunks (key_id, chunk_no, data) VALUES (%s, %s, %s)",
            (key_id, chunk_no, bytes(data)),
        )

    def drop_last_chunk(self, key_id: str, chunk_count: int) -> None:
        """Remove the final chunk (a truncated object)."""
        if self.conn is None:
            path = self.data_dir / "content" / key_id[:2] / key_id
            raw = path.read_bytes()
            path.write_bytes(raw[: (chunk_count - 1) * (4 + CHUNK + 28)])
            return
        self.conn.session.execute(
            "DELETE FROM content_chunks WHERE key_id = %s AND chunk_no = %s",
            (key_id, chunk_count - 1),
        )

    def move_row(self, src: tuple[str, str, str], dst_tenant: str) -> None:
        """Copy an object row to another tenant (as an attacker with the database might)."""
        if self.conn is None:
            db = sqlite3.connect(self.data_dir / "content.sqlite3")
            cols = ("tenant_id, data_class, object_id, key_id, size, chunk_count, chunk_size, "
                    "created, sealed_meta, deleted")
            db.execute(
                f"INSERT INTO content_object ({cols}) SELECT ?, data_class, object_id, key_id, "
                "size, chunk_count, chunk_size, created, sealed_meta, deleted FROM "
                "content_object WHERE tenant_id = ? AND data_class = ? AND object_id = ?",
                (dst_tenant, *src),
            )
            db.commit()
            db.close()
            return
        row: Any = self.conn.session.execute(
            "SELECT * FROM content_objects WHERE tenant_id = %s AND data_class = %s "
            "AND object_id = %s", src
        ).one()
        self.conn.session.execute(
            "INSERT INTO content_objects (tenant_id, data_class, object_id, key_id, size, "
            "chunk_count, chunk_size, created, sealed_meta, deleted) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (dst_tenant, row.data_class, row.object_id, row.key_id, row.size, row.chunk_count,
             row.chunk_size, row.created, row.sealed_meta, row.deleted),
        )


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    vault_settings = VaultSettings(root_key_file=tmp_path / "keys" / "root.key")
    if request.param == "cassandra":
        settings: StorageSettings = request.getfixturevalue("cassandra_settings")
        conn = connect_sync(settings)
        vault = await open_vault(settings, vault_settings, connection=conn)
        backend = CassandraContentBackend(conn)
        await backend.prepare()
        store = ContentStore(vault, backend)
        yield Harness(store, "cassandra", settings.data_dir, conn)
        await store.close()
        await vault.close()
        conn.shutdown()
        return
    settings = StorageSettings(backend="embedded", data_dir=tmp_path / "data")
    vault = await open_vault(settings, vault_settings)
    store = ContentStore(vault, SqliteContentBackend(settings.data_dir, chunk_size=CHUNK))
    yield Harness(store, "embedded", settings.data_dir, None)
    await store.close()
    await vault.close()


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_put_then_stream_back(harness: Harness) -> None:
    tenant, data = _tenant(), os.urandom(3 * CHUNK + 123)
    info = await harness.store.put(
        tenant, VOICEMAIL, "vm-1", _pieces(data, 10_000), {"from": "+15550001111"}
    )
    assert info.size == len(data)
    reader = await harness.store.open(tenant, VOICEMAIL, "vm-1")
    chunks = [c async for c in reader.chunks()]
    assert len(chunks) == 4 and b"".join(chunks) == data
    assert reader.info.metadata == {"from": "+15550001111"}
    stream = await harness.store.get(tenant, VOICEMAIL, "vm-1")
    assert b"".join([c async for c in stream]) == data


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1])
async def test_sizes_round_trip(harness: Harness, size: int) -> None:
    tenant, data = _tenant(), os.urandom(size)
    await harness.store.put(tenant, RECORDING, "r-1", data)
    assert await (await harness.store.open(tenant, RECORDING, "r-1")).read_all() == data
    assert (await harness.store.info(tenant, RECORDING, "r-1")).size == size


async def test_list_is_per_tenant_and_class(harness: Harness) -> None:
    tenant, other = _tenant(), _tenant()
    for oid in ("b", "a", "c"):
        await harness.store.put(tenant, VOICEMAIL, oid, oid.encode(), {"n": oid})
    await harness.store.put(tenant, RECORDING, "rec", b"x")
    await harness.store.put(other, VOICEMAIL, "z", b"y")
    listed = await harness.store.list(tenant, VOICEMAIL)
    assert [(i.object_id, i.size, i.metadata) for i in listed] == [
        ("a", 1, {"n": "a"}), ("b", 1, {"n": "b"}), ("c", 1, {"n": "c"})
    ]
    assert [i.object_id for i in await harness.store.list(other, VOICEMAIL)] == ["z"]
    with pytest.raises(NotFound):
        await harness.store.open(other, VOICEMAIL, "a")


async def test_put_over_a_live_object_is_refused(harness: Harness) -> None:
    tenant = _tenant()
    await harness.store.put(tenant, VOICEMAIL, "vm", b"first")
    with pytest.raises(AlreadyExists) as err:
        await harness.store.put(tenant, VOICEMAIL, "vm", b"second")
    assert err.value.error_id == "content-exists"
    assert await (await harness.store.open(tenant, VOICEMAIL, "vm")).read_all() == b"first"


async def test_delete_is_unreadable_at_once_and_the_name_reusable(harness: Harness) -> None:
    tenant = _tenant()
    await harness.store.put(tenant, VOICEMAIL, "vm", b"secret words")
    key_id = (await harness.store.backend.object(tenant, VOICEMAIL, "vm")).key_id  # type: ignore[union-attr]
    await harness.store.delete(tenant, VOICEMAIL, "vm")
    for call in (harness.store.open, harness.store.info, harness.store.get):
        with pytest.raises(NotFound):
            await call(tenant, VOICEMAIL, "vm")
    assert await harness.store.list(tenant, VOICEMAIL) == []
    with pytest.raises(NotFound):  # the key itself refuses, whatever reaches the chunks
        await harness.store.vault.open_data_key(tenant, VOICEMAIL, "vm", key_id)
    assert [c async for c in harness.store.backend.read_chunks(key_id, 1)] == []
    await harness.store.put(tenant, VOICEMAIL, "vm", b"new")
    assert await (await harness.store.open(tenant, VOICEMAIL, "vm")).read_all() == b"new"


async def test_tampered_chunk_fails_clearly(harness: Harness) -> None:
    tenant, data = _tenant(), os.urandom(2 * CHUNK + 5)
    await harness.store.put(tenant, RECORDING, "r", data)
    row = await harness.store.backend.object(tenant, RECORDING, "r")
    assert row is not None
    harness.flip_chunk_byte(row.key_id, 1)
    reader = await harness.store.open(tenant, RECORDING, "r")
    received: list[bytes] = []
    with pytest.raises(VaultTampered) as err:
        async for chunk in reader.chunks():
            received.append(chunk)
    assert err.value.error_id == "vault-tampered"
    assert received == [data[:CHUNK]]  # only the authenticated chunk before the damage


async def test_truncated_object_fails_clearly(harness: Harness) -> None:
    tenant, data = _tenant(), os.urandom(2 * CHUNK + 5)
    await harness.store.put(tenant, RECORDING, "r", data)
    row = await harness.store.backend.object(tenant, RECORDING, "r")
    assert row is not None
    harness.drop_last_chunk(row.key_id, row.chunk_count)
    reader = await harness.store.open(tenant, RECORDING, "r")
    with pytest.raises(VaultTampered):
        await reader.read_all()


async def test_object_moved_to_another_tenant_fails(harness: Harness) -> None:
    tenant, thief = _tenant(), _tenant()
    await harness.store.put(tenant, VOICEMAIL, "vm", b"private")
    harness.move_row((tenant, VOICEMAIL, "vm"), thief)
    with pytest.raises(VaultContextMismatch) as err:
        await harness.store.open(thief, VOICEMAIL, "vm")
    assert err.value.error_id == "vault-context-mismatch"


async def test_bad_names_are_refused(harness: Harness) -> None:
    with pytest.raises(InvalidArgument):
        await harness.store.put(_tenant(), "diary", "x", b"")
    with pytest.raises(InvalidArgument):
        await harness.store.put(_tenant(), VOICEMAIL, "../x", b"")
    with pytest.raises(InvalidArgument):
        await harness.store.put(_tenant(), VOICEMAIL, "x", b"", {"k": 1})  # type: ignore[dict-item]

"""Raw-store scan: nothing personal or secret is on disk in plaintext.

A scenario writes, through ``open_stores`` as a host does, CDRs with known random numbers,
actor state holding a known SRTP master key (a call's ``caller_offer``), sealed content
with a known marker, and (embedded) a CDR spooled by the spool. Then the raw bytes of every
file of the store are read: the embedded store's SQLite files (with their -wal/-shm), chunk
files and spool; Cassandra's SSTables and commit log segments. None of the numbers, the key
(raw or base64) or the marker may appear. A control value written in plaintext on purpose
must appear, which proves the scan reads the bytes that matter.

Cassandra: ``nodetool`` is not installed and JMX is off, so the test keyspace's tables are
altered to flush their memtables every second (``memtable_flush_period_in_ms``) and to write
uncompressed SSTables (so plaintext would be visible to a byte scan); the test waits until
the control value is in a flushed ``-Data.db`` file and every written table has one, then
scans those files and every commit log segment of the node.
"""

from __future__ import annotations

import base64
import os
import random
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_files import SCAN_TABLE_OPTIONS, read_all

from cluster.cassandra import DEFAULT_DIR, ClusterLayout
from fabric.api.v1 import common_pb2 as api_common
from fabric.cdr import Cdr, Direction, Disposition
from fabric.config import StorageSettings, VaultSettings
from fabric.errors import Unavailable
from fabric.storage.base import CdrPage
from fabric.storage.factory import Stores, open_stores
from fabric.storage.spool import SpoolingCdrStore
from fabric.vault.content import RECORDING, VOICEMAIL
from fabric.vault.vault import Vault

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Secrets:
    """The values that must never be found in plaintext."""

    def __init__(self) -> None:
        rnd = random.SystemRandom()
        self.numbers = [f"+1555{rnd.randrange(10**6, 10**7)}" for _ in range(4)]
        self.srtp_key = os.urandom(30)
        self.marker = b"CONTENT-MARKER-" + uuid.uuid4().hex.encode()
        self.tenant = f"scan-{uuid.uuid4().hex[:10]}"

    def needles(self) -> dict[str, bytes]:
        """Each secret as the byte strings a leak would show."""
        out = {f"number {n}": n.encode() for n in self.numbers}
        out.update({f"digits {n}": n[1:].encode() for n in self.numbers})
        out["srtp key"] = self.srtp_key
        out["srtp key b64"] = base64.b64encode(self.srtp_key)
        out["marker"] = self.marker
        return out


def _cdr(secrets: Secrets, i: int) -> Cdr:
    start = START + timedelta(minutes=i)
    return Cdr(
        call_id=f"call-{uuid.uuid4().hex}", tenant_id=secrets.tenant,
        from_number=secrets.numbers[i % 4], to_number=secrets.numbers[(i + 1) % 4],
        direction=Direction.OUTBOUND, start_time=start, answer_time=start,
        end_time=start + timedelta(seconds=30), duration_s=30, billable_s=30,
        disposition=Disposition.ANSWERED, hangup_cause="normal-clearing",
    )


async def _scenario(stores: Stores, secrets: Secrets) -> None:
    assert stores.content is not None
    for i in range(8):
        await stores.cdr.write(_cdr(secrets, i))
    offer = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=secrets.srtp_key)
    version = await stores.state.save("call", f"call-{uuid.uuid4().hex}",
                                      offer.SerializeToString(), 0)
    assert version == 1
    await stores.content.put(secrets.tenant, VOICEMAIL, "vm-1",
                             secrets.marker * 5000, {"from": secrets.numbers[0]})
    await stores.content.put(secrets.tenant, RECORDING, "rec-1", secrets.marker)
    # the number filter still finds the CDRs, through the blind index
    page: CdrPage = await stores.cdr.query(
        secrets.tenant, START, START + timedelta(days=1), number=secrets.numbers[0]
    )
    assert len(page.records) == 4
    assert all(secrets.numbers[0] in (r.from_number, r.to_number) for r in page.records)


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield path


def _leaks(paths: list[Path], needles: dict[str, bytes]) -> list[str]:
    found = []
    for path, raw in read_all(lambda: paths).items():
        found += [f"{name} in {path.name}" for name, needle in needles.items() if needle in raw]
    return found


class _DownStore:
    """A CDR store that is down, so the spool keeps what it is given."""

    async def write(self, cdr: Cdr) -> None:
        raise Unavailable("down for the test", error_id="cassandra-unavailable")

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        raise Unavailable("down for the test", error_id="cassandra-unavailable")

    async def close(self) -> None:
        return None


async def test_embedded_store_holds_no_plaintext(tmp_path: Path) -> None:
    secrets = Secrets()
    data_dir, spool_dir = tmp_path / "data", tmp_path / "spool"
    settings = StorageSettings(backend="embedded", data_dir=data_dir, spool_dir=spool_dir)
    vault_settings = VaultSettings(root_key_file=tmp_path / "keys" / "root.key")
    stores = await open_stores(settings, vault_settings=vault_settings, sweep=False)
    try:
        await _scenario(stores, secrets)
        assert stores.vault is not None
        spool = await SpoolingCdrStore(
            _DownStore(), spool_dir, vault=stores.vault  # type: ignore[arg-type]
        ).open()
        spooled = _cdr(secrets, 99)
        await spool.write(spooled)
        assert spool.depth == 1
        assert (await spool.get(secrets.tenant, spooled.call_id)).from_number == (
            spooled.from_number
        )
        await spool.close()
        paths = list(_files(data_dir, spool_dir))  # while open: the WAL files are there
        names = {p.name for p in paths}
        assert {"cdr.sqlite3-wal", "actors.sqlite3-wal", "content.sqlite3",
                "cdr-spool.sqlite3"} <= names
        assert _leaks(paths, secrets.needles()) == []
    finally:
        await stores.close()
    paths = list(_files(data_dir, spool_dir))
    assert _leaks(paths, secrets.needles()) == []
    for path in paths:  # every file 0600, every folder 0700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    for folder in {p.parent for p in paths} | {data_dir, spool_dir}:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder.name
    key_file = tmp_path / "keys" / "root.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # control: a plaintext value written to the same kind of file is found by the scan
    control = tmp_path / "control"
    control.mkdir()
    (control / "x.sqlite3").write_bytes(b"..." + secrets.marker + b"...")
    assert _leaks(list(_files(control)), secrets.needles()) == ["marker in x.sqlite3"]


def _node_dir(host: str, port: int) -> Path:
    layout = ClusterLayout.load(DEFAULT_DIR)
    for node in layout.nodes if layout is not None else []:
        if node.address == host and node.native_port == port:
            return node.node_dir
    pytest.fail(
        f"the raw scan reads the node's files: no local node at {host}:{port} under "
        f"{DEFAULT_DIR} (start it with `python -m cluster.cassandra up`)",
        pytrace=False,
    )


@pytest.mark.cassandra
async def test_cassandra_holds_no_plaintext(
    cassandra_address: tuple[str, int], tmp_path: Path
) -> None:
    from cluster.cassandra_security import client_settings
    from fabric.storage.cassandra_session import connect_sync
    from fabric.storage.schema import apply_schema, drop_keyspace

    host, port = cassandra_address
    node_dir = _node_dir(host, port)
    keyspace = f"callfabric_scan_{uuid.uuid4().hex[:10]}"
    settings = StorageSettings(
        backend="cassandra", cassandra_hosts=[host], cassandra_port=port, keyspace=keyspace,
        consistency="LOCAL_QUORUM", data_dir=tmp_path / "data", spool_dir=tmp_path / "spool",
        **client_settings(DEFAULT_DIR),  # the launcher's node takes only its role over TLS
    )
    conn = connect_sync(settings, use_keyspace=False)
    secrets = Secrets()
    control = b"CONTROL-PLAINTEXT-" + uuid.uuid4().hex.encode()
    written = ["cdr_by_call", "cdr_by_tenant_day", "actor_state", "content_chunks",
               "content_objects", "vault_data_keys", "vault_tenant_keys"]
    try:
        apply_schema(conn.session, keyspace, replication_factor=1)
        for table in written:
            conn.session.execute(
                f"ALTER TABLE {keyspace}.{table} WITH {SCAN_TABLE_OPTIONS}"
            )
        stores = await open_stores(
            settings, apply_schema=False, sweep=False,
            vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        )
        try:
            await _scenario(stores, secrets)
            assert isinstance(stores.vault, Vault)
        finally:
            await stores.close()
        conn.session.execute(
            f"INSERT INTO {keyspace}.content_chunks (key_id, chunk_no, data) VALUES (%s, 0, %s)",
            ("control", control),
        )
        table_dirs = _wait_flushed(node_dir / "data" / keyspace, written, control)
        # compaction is off for these tables, but commit-log segments are recycled: read
        # one whole listing of both (read_all lists again when a file vanished)
        raws = read_all(lambda: list(_files(*table_dirs, node_dir / "commitlog")))
        assert any(control in raw for p, raw in raws.items() if "commitlog" in p.parts), (
            "control not in commit log")
        assert [f"{name} in {p.name}" for p, raw in raws.items()
                for name, needle in secrets.needles().items() if needle in raw] == []
    finally:
        drop_keyspace(conn.session, keyspace)
        conn.shutdown()


def _wait_flushed(ks_dir: Path, tables: list[str], control: bytes) -> list[Path]:
    """Wait until every table has a flushed Data.db and the control value is in one."""
    deadline = time.monotonic() + 90

    def table_dirs() -> list[Path]:
        return [d for d in ks_dir.glob("*-*") if d.name.split("-")[0] in tables]

    while True:
        data = read_all(lambda: [p for d in table_dirs() for p in d.glob("*-Data.db")])
        flushed = {p.parent.name.split("-")[0] for p in data} >= set(tables)
        if flushed and any(control in raw for p, raw in data.items()
                           if p.parent.name.startswith("content_chunks-")):
            return table_dirs()
        if time.monotonic() > deadline:
            pytest.fail(f"memtables not flushed within 90 s: {sorted(data)}", pytrace=False)
        time.sleep(0.5)

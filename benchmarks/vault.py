"""Encryption at rest: sealed content and sealed CDR ingest vs their baselines, same run.

Content (embedded store): ``ContentStore.put`` and a streamed read (``open().chunks()``) of
``--objects`` buffers of ``--mb`` MB each, through the vault (a data key per object, 256 KB
chunks sealed with AES-256-GCM, chunk files fsynced, rows in SQLite), in MB/s of plaintext.
Baseline (the ceiling): raw AES-256-GCM (``cryptography``'s AESGCM) encrypting, then
decrypting, the same buffers in the same chunk size with no storage at all.

CDR ingest (embedded store): ``SqliteCdrStore.write`` of ``--cdrs`` CDRs with the vault
(numbers sealed, blind indexes computed) vs the same store without a vault (plain numbers),
in CDRs/s. Ours and the baseline alternate (per object; per 250 CDRs) after a warm-up, so
drift on a shared machine hits both alike. Content figures are medians over ``--rounds``;
the CDR ratio is the median of the ratios of adjacent (sealed, plain) batches.

Targets (issue 9): content write and read >= 0.5 of raw AES-GCM; sealed CDR ingest >= 0.9
of unsealed. Usage: python benchmarks/vault.py [--objects 8] [--mb 8] [--cdrs 5000]
[--rounds 3]. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from fabric.cdr import Cdr, Direction, Disposition  # noqa: E402
from fabric.storage.sqlite_cdr import SqliteCdrStore  # noqa: E402
from fabric.storage.sqlite_content import DEFAULT_CHUNK_SIZE, SqliteContentBackend  # noqa: E402
from fabric.vault.content import RECORDING, ContentStore  # noqa: E402
from fabric.vault.provider import LocalFileKeyProvider  # noqa: E402
from fabric.vault.sqlite_keys import SqliteKeyStore  # noqa: E402
from fabric.vault.vault import Vault  # noqa: E402

DAY = datetime(2026, 9, 1, tzinfo=UTC)


def raw_encrypt(buf: bytes, chunk: int) -> tuple[float, AESGCM, list[tuple[bytes, bytes]]]:
    """Seconds to encrypt one buffer in ``chunk``-byte pieces (a fresh key, a random nonce
    per piece, as the store does; each result dropped once made, as the store drops it once
    written), and a sealed copy made untimed for :func:`raw_decrypt`."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    view = memoryview(buf)
    began = time.perf_counter()
    for i in range(0, len(buf), chunk):
        aead.encrypt(os.urandom(12), view[i : i + chunk], b"ctx")
    took = time.perf_counter() - began
    pieces = []
    for i in range(0, len(buf), chunk):
        nonce = os.urandom(12)
        pieces.append((nonce, aead.encrypt(nonce, view[i : i + chunk], b"ctx")))
    return took, aead, pieces


def raw_decrypt(aead: AESGCM, pieces: list[tuple[bytes, bytes]]) -> float:
    """Seconds to decrypt the pieces."""
    began = time.perf_counter()
    for nonce, ct in pieces:
        aead.decrypt(nonce, ct, b"ctx")
    return time.perf_counter() - began


async def sealed_put(store: ContentStore, tenant: str, oid: str, buf: bytes) -> float:
    """Seconds to put one object."""
    began = time.perf_counter()
    await store.put(tenant, RECORDING, oid, buf)
    return time.perf_counter() - began


async def sealed_read(store: ContentStore, tenant: str, oid: str, size: int) -> float:
    """Seconds to open and stream one object back."""
    began = time.perf_counter()
    total = 0
    reader = await store.open(tenant, RECORDING, oid)
    async for chunk in reader.chunks():
        total += len(chunk)
    took = time.perf_counter() - began
    assert total == size
    return took


async def content_round(
    store: ContentStore, buffers: list[bytes], chunk: int
) -> tuple[float, float, float, float]:
    """One round, ours and raw alternating per object: (ours write, raw encrypt, ours read,
    raw decrypt) seconds."""
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    ow = rw = orr = rr = 0.0
    sealed = []
    for i, buf in enumerate(buffers):
        ow += await sealed_put(store, tenant, f"obj-{i}", buf)
        took, aead, pieces = raw_encrypt(buf, chunk)
        rw += took
        sealed.append((aead, pieces))
    for i, buf in enumerate(buffers):
        orr += await sealed_read(store, tenant, f"obj-{i}", len(buf))
        rr += raw_decrypt(*sealed[i])
    for i in range(len(buffers)):
        await store.delete(tenant, RECORDING, f"obj-{i}")
    return ow, rw, orr, rr


def make_cdrs(count: int) -> list[Cdr]:
    out = []
    for i in range(count):
        start = DAY + timedelta(seconds=i % 86000, milliseconds=i % 1000)
        out.append(Cdr(
            call_id=uuid.uuid4().hex, tenant_id=f"tenant-{i % 50}",
            from_number="+14155550100", to_number=f"+4420718{i % 100000:05d}",
            direction=Direction.OUTBOUND, start_time=start, answer_time=start,
            end_time=start + timedelta(seconds=60), duration_s=60, billable_s=60,
            disposition=Disposition.ANSWERED, hangup_cause="normal-clearing",
            packets_sent=3000, packets_received=2990, packets_lost=10, jitter_ms=2.5,
            node_ids=("node-1",),
        ))
    return out


async def cdr_round(
    sealed: SqliteCdrStore, plain: SqliteCdrStore, cdrs: int, batch: int = 250
) -> list[tuple[float, float]]:
    """(sealed, plain) seconds per batch of ``batch`` sequential writes, alternating."""
    pairs = []
    for _ in range(max(1, cdrs // batch)):
        times = []
        for store in (sealed, plain):
            cdrs_ = make_cdrs(batch)
            began = time.perf_counter()
            for cdr in cdrs_:
                await store.write(cdr)
            times.append(time.perf_counter() - began)
        pairs.append((times[0], times[1]))
    return pairs


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--mb", type=float, default=8.0)
    parser.add_argument("--cdrs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    buffers = [os.urandom(int(args.mb * 1024 * 1024)) for _ in range(args.objects)]
    total_mb = sum(len(b) for b in buffers) / 1e6
    with TemporaryDirectory(dir=Path(__file__).resolve().parents[1] / ".run") as tmp:
        root = Path(tmp)
        vault = Vault(LocalFileKeyProvider(root / "keys" / "root.key"),
                      SqliteKeyStore(root / "data" / "vault.sqlite3"))
        store = ContentStore(vault, SqliteContentBackend(root / "data"))
        sealed_store = await SqliteCdrStore(root / "data" / "cdr-sealed.sqlite3",
                                            vault=vault).open()
        plain_store = await SqliteCdrStore(root / "data" / "cdr-plain.sqlite3").open()
        try:
            await content_round(store, buffers[:1], DEFAULT_CHUNK_SIZE)  # warm-up
            await cdr_round(sealed_store, plain_store, 1000)
            ours_w, ours_r, raw_w, raw_r = [], [], [], []
            pairs: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                ow, rw, orr, rr = await content_round(store, buffers, DEFAULT_CHUNK_SIZE)
                ours_w.append(total_mb / ow)
                raw_w.append(total_mb / rw)
                ours_r.append(total_mb / orr)
                raw_r.append(total_mb / rr)
                pairs += await cdr_round(sealed_store, plain_store, args.cdrs)
        finally:
            await sealed_store.close()
            await plain_store.close()
            await store.close()
            await vault.close()
    med = statistics.median
    write, read, raw_write, raw_read = med(ours_w), med(ours_r), med(raw_w), med(raw_r)
    batch = 250
    cdr_sealed = med(batch / ts for ts, _ in pairs)
    cdr_plain = med(batch / tp for _, tp in pairs)
    cdr_ratio = med(tp / ts for ts, tp in pairs)  # per adjacent pair: robust to drift
    print(json.dumps({
        "bench": "vault",
        "value": round(write, 1),
        "unit": "MB/s sealed content write (embedded)",
        "baseline": round(raw_write, 1),
        "ratio": round(write / raw_write, 3),
        "content_read_mb_s": round(read, 1),
        "raw_decrypt_mb_s": round(raw_read, 1),
        "read_ratio": round(read / raw_read, 3),
        "cdr_sealed_per_s": round(cdr_sealed, 1),
        "cdr_plain_per_s": round(cdr_plain, 1),
        "cdr_ratio": round(cdr_ratio, 3),
        "target_content_ratio": 0.5,
        "target_cdr_ratio": 0.9,
        "objects": args.objects,
        "object_mb": args.mb,
        "chunk_bytes": DEFAULT_CHUNK_SIZE,
        "cdrs_per_round": args.cdrs,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    asyncio.run(main())

"""No CDR lost while Cassandra is down: a durable local spool in front of the CDR store.

:class:`SpoolingCdrStore` wraps a CDR store. A write that the store does not accept within
``write_timeout_s`` (``Unavailable``, a timeout) is appended to a SQLite file in
``spool_dir`` (WAL, ``synchronous=FULL``: on disk before ``write`` returns) and the caller
is told it succeeded: the record is durable. While the store is known to be down
(a write failed and no delivery succeeded since), writes go straight to the spool instead
of waiting for a timeout each. A background task delivers spooled records,
oldest first, retrying with backoff until the store is back, and removes each one after the
store acknowledged it.

Exactly once: the spool is keyed by call id (a CDR spooled twice is one entry), and the
store's write is idempotent by call id, so a delivery repeated after a crash between "stored"
and "removed from the spool" rewrites the same row; each CDR ends as one row. A CDR that
fails validation is refused (``InvalidArgument``) and never spooled; a spooled record the
store refuses later (rules changed between versions, a damaged row) is moved to the
``spool_rejected`` table for an operator, never silently dropped.

While a CDR waits in the spool, ``get`` finds it there; ``query`` shows only stored CDRs.
``delete_tenant`` also erases the tenant's spooled records.

With a vault (``open_stores`` always gives one) each spooled record is sealed whole
(AES-256-GCM, bound to tenant and call id) before it touches the file; the file is 0600 in a
0700 folder. The spool's key is its own, wrapped by the vault's root key and kept in the
spool file: the spool exists for when Cassandra is down, and the tenant keys live there, so
sealing a spooled CDR must not need them. Records spooled as plain JSON by an older version
are still delivered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.cdr import Cdr
from fabric.errors import FabricError, InvalidArgument, NotFound, Unavailable
from fabric.storage.base import CdrPage, CdrStore
from fabric.storage.metrics import (
    CDR_FAILED,
    CDR_SPOOL_DELIVERED,
    CDR_SPOOL_DEPTH,
    CDR_SPOOLED,
    CDR_WRITE_LATENCY,
    CDR_WRITTEN,
)
from fabric.storage.sqlite_db import SqliteDb
from fabric.vault import crypto
from fabric.vault.errors import VaultContextMismatch, VaultKeyDestroyed, VaultTampered
from fabric.vault.provider import WrappedKey
from fabric.vault.vault import Vault

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    record TEXT NOT NULL,
    spooled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    root_version INTEGER NOT NULL,
    wrapped BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_rejected (
    seq INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    record TEXT NOT NULL
);
"""
DELIVERY_BATCH = 64
SPOOL_CLASS = "cdr-spool"


class SpoolingCdrStore:
    """A CdrStore that spools writes the inner store cannot take, and delivers them later."""

    def __init__(
        self,
        inner: CdrStore,
        spool_dir: Path,
        *,
        write_timeout_s: float = 2.0,
        retry_min_s: float = 0.2,
        retry_max_s: float = 5.0,
        vault: Vault | None = None,
    ) -> None:
        self.inner = inner
        self._vault = vault
        self._aead: AESGCM | None = None
        self._db = SqliteDb(spool_dir / "cdr-spool.sqlite3", _SCHEMA, synchronous="FULL")
        self._write_timeout_s = write_timeout_s
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self._drainer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._depth = 0
        self._closed = False
        self._store_down = False
        self._delivery_lock = asyncio.Lock()  # a tenant erasure never races a delivery

    async def _open_key(self, vault: Vault) -> AESGCM:
        """The spool's own key: made on first use, wrapped by the root key, kept here."""
        aad = crypto.context_aad("spool-key", str(self._db.path.name))
        row = await self._db.run(
            lambda c: c.execute("SELECT root_version, wrapped FROM spool_key").fetchone()
        )
        if row is None:
            wrapped = await vault.provider.wrap(crypto.new_key(), aad)
            await self._db.run(
                lambda c: c.execute(
                    "INSERT INTO spool_key VALUES (1, ?, ?) ON CONFLICT DO NOTHING",
                    (wrapped.version, wrapped.blob),
                )
            )
            row = await self._db.run(
                lambda c: c.execute("SELECT root_version, wrapped FROM spool_key").fetchone()
            )
        raw = await vault.provider.unwrap(WrappedKey(int(row[0]), bytes(row[1])), aad)
        return AESGCM(raw)

    async def open(self) -> SpoolingCdrStore:
        """Open the spool file; start delivering what a previous run left in it."""
        if self._vault is not None:
            self._aead = await self._open_key(self._vault)
        self._depth = await self._db.run(
            lambda c: int(c.execute("SELECT count(*) FROM spool").fetchone()[0])
        )
        CDR_SPOOL_DEPTH.set(self._depth)
        if self._depth:
            self._start_drainer()
        return self

    @property
    def depth(self) -> int:
        """How many CDRs wait in the spool."""
        return self._depth

    # --- writes ----------------------------------------------------------------------------

    async def write(self, cdr: Cdr) -> None:
        """Store the CDR, or spool it durably when the store is down; refuse it if invalid."""
        began = time.perf_counter()
        if self._store_down:  # known down: spool at once, the drainer probes the store
            self._validate(cdr)
            await self._spool(cdr)
            CDR_WRITE_LATENCY.observe(time.perf_counter() - began)
            return
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await self.inner.write(cdr)  # validates: InvalidArgument, nothing written
        except InvalidArgument:
            CDR_FAILED.inc()
            raise
        except (FabricError, TimeoutError) as exc:
            if not getattr(exc, "retryable", True):
                CDR_FAILED.inc()
                raise
            self._validate(cdr)
            self._store_down = True
            await self._spool(cdr)
        else:
            CDR_WRITTEN.inc()
        CDR_WRITE_LATENCY.observe(time.perf_counter() - began)

    @staticmethod
    def _validate(cdr: Cdr) -> None:
        try:
            cdr.validate()
        except InvalidArgument:
            CDR_FAILED.inc()
            raise

    async def _spool(self, cdr: Cdr) -> None:
        record: str | bytes = json.dumps(cdr.to_dict(), separators=(",", ":"))
        if self._aead is not None:
            assert isinstance(record, str)
            prefix = crypto.record_context(cdr.tenant_id, SPOOL_CLASS)
            record = crypto.seal_record(self._aead, 1, prefix, cdr.call_id, record.encode())

        def _insert(c: sqlite3.Connection) -> int:
            c.execute(
                "INSERT INTO spool (call_id, tenant_id, record, spooled_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO UPDATE SET record = excluded.record",
                (cdr.call_id, cdr.tenant_id, record, time.time()),
            )
            return int(c.execute("SELECT count(*) FROM spool").fetchone()[0])

        try:
            self._depth = await self._db.run(_insert)
        except Exception:
            CDR_FAILED.inc()
            raise
        CDR_SPOOL_DEPTH.set(self._depth)
        CDR_SPOOLED.inc()
        self._start_drainer()

    # --- delivery --------------------------------------------------------------------------

    def _start_drainer(self) -> None:
        self._wake.set()
        if self._closed or (self._drainer is not None and not self._drainer.done()):
            return
        self._drainer = asyncio.get_running_loop().create_task(self._drain(), name="cdr-spool")

    async def _drain(self) -> None:
        delay = self._retry_min_s
        while not self._closed:
            self._wake.clear()
            try:
                async with self._delivery_lock:
                    batch = await self._db.run(
                        lambda c: c.execute(
                            "SELECT seq, tenant_id, call_id, record FROM spool ORDER BY seq "
                            "LIMIT ?",
                            (DELIVERY_BATCH,),
                        ).fetchall()
                    )
                    if not batch:
                        return
                    delivered = await self._deliver(batch)
            except Exception:  # never let the delivery loop die: log once, back off, retry
                log.exception("CDR spool delivery failed; retrying in %.1fs", delay)
                delivered = 0
            if delivered:
                self._store_down = False
                delay = self._retry_min_s
                continue
            try:  # the store is still down: back off, or wake early on a new spooled record
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, self._retry_max_s)

    async def _record(self, tenant_id: str, call_id: str, record: str | bytes) -> Cdr:
        """A spooled record back as a CDR (opened when sealed)."""
        if isinstance(record, bytes):
            if self._aead is None:
                raise Unavailable(
                    "the CDR spool holds sealed records; open it with the vault",
                    error_id="cdr-spool-needs-vault",
                )
            prefix = crypto.record_context(tenant_id, SPOOL_CLASS)
            record = crypto.open_record(self._aead, prefix, SPOOL_CLASS, call_id, record)
        return Cdr.from_dict(json.loads(record))

    async def _deliver(self, batch: list[tuple[int, str, str, str | bytes]]) -> int:
        """Write a batch of spooled CDRs; remove those stored, set aside those refused."""
        rejected: list[tuple[int]] = []

        async def _one(seq: int, tenant_id: str, call_id: str, record: str | bytes) -> int | None:
            try:
                cdr = await self._record(tenant_id, call_id, record)
                async with asyncio.timeout(self._write_timeout_s * 5):
                    await self.inner.write(cdr)
            except (InvalidArgument, ValueError, TypeError, KeyError, VaultTampered,
                    VaultContextMismatch, VaultKeyDestroyed):
                rejected.append((seq,))  # kept in spool_rejected for an operator, not lost
                return None
            except (FabricError, TimeoutError):
                return None
            return seq

        results = await asyncio.gather(*(_one(*row) for row in batch))
        done = [(seq,) for seq in results if seq is not None]
        if not done and not rejected:
            return 0

        def _remove(c: sqlite3.Connection) -> int:
            c.executemany(
                "INSERT OR REPLACE INTO spool_rejected (seq, call_id, tenant_id, record) "
                "SELECT seq, call_id, tenant_id, record FROM spool WHERE seq = ?",
                rejected,
            )
            c.executemany("DELETE FROM spool WHERE seq = ?", done + rejected)
            return int(c.execute("SELECT count(*) FROM spool").fetchone()[0])

        self._depth = await self._db.run(_remove)
        CDR_SPOOL_DEPTH.set(self._depth)
        CDR_SPOOL_DELIVERED.inc(len(done))
        if rejected:
            CDR_FAILED.inc(len(rejected))
            log.error("%d spooled CDRs no longer validate; moved to spool_rejected", len(rejected))
        return len(done) + len(rejected)

    async def flush(self, timeout: float = 60.0) -> None:
        """Wait until the spool is empty; ``Unavailable`` if it is not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._depth:
            self._start_drainer()
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"{self._depth} CDRs still spooled after {timeout:.0f}s; the store is down",
                    error_id="cdr-spool-not-drained",
                )
            await asyncio.sleep(0.05)

    # --- reads -----------------------------------------------------------------------------

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """From the store, or from the spool while the CDR waits there."""
        try:
            return await self.inner.get(tenant_id, call_id)
        except (NotFound, Unavailable):
            row = await self._db.run(
                lambda c: c.execute(
                    "SELECT record FROM spool WHERE call_id = ? AND tenant_id = ?",
                    (call_id, tenant_id),
                ).fetchone()
            )
            if row is None:
                raise
            return await self._record(tenant_id, call_id, row[0])

    async def query(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        number: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> CdrPage:
        """The store's query (spooled CDRs show once delivered)."""
        return await self.inner.query(
            tenant_id, start, end, number=number, page_size=page_size, page_token=page_token
        )

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase the tenant's CDRs in the spool, then in the store (no delivery in between)."""
        async with self._delivery_lock:
            spooled = await self._db.run(
                lambda c: (
                    c.execute("DELETE FROM spool WHERE tenant_id = ?", (tenant_id,)).rowcount
                    + c.execute(
                        "DELETE FROM spool_rejected WHERE tenant_id = ?", (tenant_id,)
                    ).rowcount
                )
            )
            self._depth = max(0, self._depth - spooled)
            CDR_SPOOL_DEPTH.set(self._depth)
            return int(spooled) + await self.inner.delete_tenant(tenant_id)

    async def close(self) -> None:
        """Stop delivering (the spool stays on disk for the next run) and close both."""
        self._closed = True
        self._wake.set()
        if self._drainer is not None:
            self._drainer.cancel()
            try:
                await self._drainer
            except (asyncio.CancelledError, Exception):
                pass
        await self._db.close()
        await self.inner.close()

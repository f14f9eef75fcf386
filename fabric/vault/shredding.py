"""Crypto-shredding: destroy the data keys of deleted objects once the backup window ends.

Deleting an object (:meth:`fabric.vault.content.ContentStore.delete`) makes it unreadable at
once and writes a *destruction row* due ``backup_window`` later in the key store. The
:class:`KeySweeper` carries out due rows: it wipes the wrapped data key, after which no copy
of the ciphertext (a SQLite file copied earlier, a Cassandra snapshot) can be decrypted,
because no copy of the content holds the key. The schedule is durable: a sweeper that was
down when a row fell due destroys the key on its next pass. Several sweepers may run (one per
host); a destruction is idempotent.

The clock is injected so tests move time by hand (:class:`fabric.clock.ManualClock`).
"""

from __future__ import annotations

import logging

from fabric.clock import Clock
from fabric.vault.keystore import KeyStore
from fabric.vault.metrics import VAULT_KEYS_DESTROYED

log = logging.getLogger(__name__)


class KeySweeper:
    """Destroys data keys whose destruction is due."""

    def __init__(self, keys: KeyStore, clock: Clock, *, batch: int = 500) -> None:
        self._keys = keys
        self._clock = clock
        self._batch = batch

    async def sweep_once(self) -> int:
        """Destroy every data key due now; return how many were destroyed."""
        destroyed = 0
        while True:
            due = await self._keys.due_destructions(self._clock.now(), self._batch)
            for destruction in due:
                await self._keys.destroy_data_key(destruction)
            destroyed += len(due)
            if len(due) < self._batch:
                break
        if destroyed:
            VAULT_KEYS_DESTROYED.labels(level="data").inc(destroyed)
            checkpoint = getattr(self._keys, "checkpoint", None)
            if checkpoint is not None:  # embedded: push the wiped pages out of the WAL
                await checkpoint()
            log.info("destroyed %d data keys past the backup window", destroyed)
        return destroyed

    async def run(self, interval_s: float) -> None:
        """Sweep every ``interval_s`` seconds until cancelled (errors are logged, retried)."""
        while True:
            try:
                await self.sweep_once()
            except Exception:  # noqa: BLE001 - the next pass retries; rows stay due
                log.exception("key sweep failed; retrying in %.0fs", interval_s)
            await self._clock.sleep(interval_s)

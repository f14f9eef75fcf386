"""Recorded PCM streamed into the vault's content store, sealed as it arrives.

:class:`SealedWavSink` runs one ``ContentStore.put`` per recording on the relay's media
loop, fed from a bounded in-memory queue: the header of :mod:`fabric.media.wavstream`
(unknown length), then PCM blocks. The content store seals each chunk (AES-256-GCM,
256 KB on the embedded backend, 64 KB on Cassandra) before it reaches a file or a row, so
recorded audio never touches disk in plaintext, temp files included. Aborting (or a
failure) drops what was written and destroys the object's key. Producers never wait:
:meth:`SealedWavSink.feed` returns False (and counts a drop) when the queue is full.

The store is opened lazily, once per relay process, from the fabric's settings
(:class:`LazyContentStore`): a relay that never records never touches the vault.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fabric.config import StorageSettings, VaultSettings
from fabric.media.feature_types import SealTarget
from fabric.media.wavstream import wav_header
from fabric.vault.content import ContentInfo, ContentStore

log = logging.getLogger(__name__)

ContentOpener = Callable[[], Awaitable[ContentStore]]
MAX_PENDING_BYTES = 4 * 1024 * 1024  # ~2 min of a 2-channel recording waiting for the store


class _Abort(Exception):
    """Raised inside the put's data stream to abandon the object."""


class LazyContentStore:
    """Opens the vault and the content store from settings on first use (picklable until
    then: a relay actor is given one at start and opens it in its own process)."""

    def __init__(self, storage: StorageSettings, vault: VaultSettings) -> None:
        self.storage = storage
        self.vault = vault
        self._store: ContentStore | None = None
        self._lock: asyncio.Lock | None = None
        self._conn: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Only the settings cross process boundaries."""
        return {"storage": self.storage, "vault": self.vault}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild unopened."""
        self.__init__(state["storage"], state["vault"])  # type: ignore[misc]

    async def __call__(self) -> ContentStore:
        """The content store, opened on the first call."""
        if self._store is not None:
            return self._store
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._store is None:
                self._store = await self._open()
        return self._store

    async def _open(self) -> ContentStore:
        from fabric.vault.factory import open_vault

        if self.storage.backend == "cassandra":
            from fabric.storage.cassandra_content import CassandraContentBackend
            from fabric.storage.cassandra_session import connect_sync

            conn = await asyncio.to_thread(connect_sync, self.storage)
            try:
                vault = await open_vault(self.storage, self.vault, connection=conn)
                backend = CassandraContentBackend(conn)
                await backend.prepare()
            except BaseException:
                conn.shutdown()
                raise
            self._conn = conn
            return ContentStore(vault, backend)
        from fabric.storage.sqlite_content import SqliteContentBackend

        vault = await open_vault(self.storage, self.vault)
        return ContentStore(vault, SqliteContentBackend(self.storage.data_dir))

    async def close(self) -> None:
        """Close the store, its vault and connection (if opened)."""
        if self._store is not None:
            await self._store.close()
            await self._store.vault.close()
            self._store = None
        if self._conn is not None:
            self._conn.shutdown()
            self._conn = None


def store_opener(store: ContentStore) -> ContentOpener:
    """An opener for a store that is already open (tests, an embedded process)."""

    async def opener() -> ContentStore:
        return store

    return opener


class SealedWavSink:
    """One recording streaming into the content store (see the module doc)."""

    def __init__(
        self,
        opener: ContentOpener,
        target: SealTarget,
        channels: int,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.target = target
        self.channels = channels
        self.bytes_fed = 0  # PCM bytes accepted (header excluded)
        self.drops = 0
        self._opener = opener
        self._max_pending = max_pending_bytes
        self._pending = 0
        self._queue: asyncio.Queue[bytes | None | _Abort] = asyncio.Queue()
        self._closed = False
        self._task: asyncio.Task[ContentInfo] = asyncio.get_running_loop().create_task(
            self._run(), name="media-seal"
        )

    def feed(self, pcm: bytes) -> bool:
        """Queue PCM (interleaved for several channels); False (a drop) if the store is
        too far behind or the sink is closed. Never waits."""
        if self._closed or self._task.done():
            return False
        if self._pending + len(pcm) > self._max_pending:
            self.drops += 1
            return False
        self._pending += len(pcm)
        self.bytes_fed += len(pcm)
        self._queue.put_nowait(pcm)
        return True

    async def finish(self) -> ContentInfo:
        """End the stream and wait until the object is sealed; raises what the store raised."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
        return await self._task

    async def abort(self) -> None:
        """Abandon the object: nothing stays stored (its key is destroyed)."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_Abort())
        try:
            await self._task
        except Exception:  # noqa: BLE001 - aborted on purpose; nothing to report
            pass

    async def _stream(self) -> AsyncIterator[bytes]:
        yield wav_header(self.channels)
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, _Abort):
                raise item
            self._pending -= len(item)
            yield item

    async def _run(self) -> ContentInfo:
        store = await self._opener()
        t = self.target
        return await store.put(t.tenant_id, t.data_class, t.object_id, self._stream(), t.metadata)


def error_id_of(exc: BaseException) -> str:
    """The ``error_id`` of a fabric error, else a generic slug (for events, no message text)."""
    return str(getattr(exc, "error_id", "") or "media-seal-failed")

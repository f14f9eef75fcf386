"""Recorded PCM streamed into the vault's content store, sealed as it arrives.

:class:`SealedWavSink` runs one ``ContentStore.put`` per recording on the relay's seal
loop (:class:`SealThread`, a thread of its own: sealing never holds up packets), fed from
a bounded in-memory queue: the header of :mod:`fabric.media.wavstream`
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
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fabric.config import StorageSettings, VaultSettings
from fabric.media.feature_types import SealTarget
from fabric.media.wavstream import wav_header
from fabric.vault.content import ContentInfo, ContentStore

log = logging.getLogger(__name__)

ContentOpener = Callable[[], Awaitable[ContentStore]]
MAX_PENDING_BYTES = 4 * 1024 * 1024  # ~2 min of a 2-channel recording waiting for the store
HANDOFF_BYTES = 32 * 1024  # PCM collected on the media loop before a hand-over (1 s stereo)


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
        self._lock = None  # bound to the loop that opened the store
        if self._conn is not None:
            self._conn.shutdown()
            self._conn = None


def store_opener(store: ContentStore) -> ContentOpener:
    """An opener for a store that is already open (tests, an embedded process)."""

    async def opener() -> ContentStore:
        return store

    return opener


class SealThread:
    """A thread with an event loop of its own where the content store lives and seals.

    Sealing (AES-GCM of 256 KB chunks, file or Cassandra writes, the vault's key calls) then
    never runs on the media loop, so packets are not held behind it; the media loop only
    hands finished blocks over. Started on first use; :meth:`stop` closes the store (its
    ``close``, if the opener has one) on that loop and ends the thread.
    """

    def __init__(self, name: str = "media-seal") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> asyncio.AbstractEventLoop:
        """The running seal loop (started now if needed)."""
        if self.loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()
                loop.close()

            self._thread = threading.Thread(target=run, name=self.name, daemon=True)
            self._thread.start()
            ready.wait()
            self.loop = loop
        return self.loop

    async def stop(self, opener: ContentOpener | None = None) -> None:
        """Close the opener's store on the seal loop (if it can be closed), end the thread."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        close = getattr(opener, "close", None)
        if close is not None:
            future = asyncio.run_coroutine_threadsafe(close(), loop)
            await asyncio.wrap_future(future)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 5.0)
        self.loop = self._thread = None


class SealedWavSink:
    """One recording streaming into the content store (see the module doc).

    Producers call :meth:`feed` on their own loop; PCM collects there into blocks of
    :data:`HANDOFF_BYTES` handed to the ``put`` that runs on the seal loop (``seal_loop``;
    None = the producer's loop, as in unit tests).
    """

    def __init__(
        self,
        opener: ContentOpener,
        target: SealTarget,
        channels: int,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        seal_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.target = target
        self.channels = channels
        self.bytes_fed = 0  # PCM bytes accepted (header excluded)
        self.drops = 0
        self._opener = opener
        self._max_pending = max_pending_bytes
        self._handed = 0  # bytes handed to the seal loop (written by the producer only)
        self._consumed = 0  # bytes the put took (written on the seal loop only)
        self._block = bytearray()
        self._queue: asyncio.Queue[bytes | None | _Abort] = asyncio.Queue()
        self._closed = False
        self._seal_loop = seal_loop or asyncio.get_running_loop()
        self._done: concurrent.futures.Future[ContentInfo] = (
            asyncio.run_coroutine_threadsafe(self._run(), self._seal_loop)
        )

    def feed(self, pcm: bytes) -> bool:
        """Queue PCM (interleaved for several channels); False (a drop) if the store is
        too far behind or the sink is closed. Never waits."""
        if self._closed or self._done.done():
            return False
        if self._handed - self._consumed + len(self._block) + len(pcm) > self._max_pending:
            self.drops += 1
            return False
        self.bytes_fed += len(pcm)
        self._block += pcm
        if len(self._block) >= HANDOFF_BYTES:
            self._hand(bytes(self._block))
            self._block.clear()
        return True

    def _hand(self, item: bytes | None | _Abort) -> None:
        if isinstance(item, bytes):
            self._handed += len(item)
        self._seal_loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def finish(self) -> ContentInfo:
        """End the stream and wait until the object is sealed; raises what the store raised."""
        if not self._closed:
            self._closed = True
            if self._block:
                self._hand(bytes(self._block))
                self._block.clear()
            self._hand(None)
        return await asyncio.wrap_future(self._done)

    async def abort(self) -> None:
        """Abandon the object: nothing stays stored (its key is destroyed)."""
        if not self._closed:
            self._closed = True
            self._block.clear()
            self._hand(_Abort())
        try:
            await asyncio.wrap_future(self._done)
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
            self._consumed += len(item)
            yield item

    async def _run(self) -> ContentInfo:
        store = await self._opener()
        t = self.target
        return await store.put(t.tenant_id, t.data_class, t.object_id, self._stream(), t.metadata)


def error_id_of(exc: BaseException) -> str:
    """The ``error_id`` of a fabric error, else a generic slug (for events, no message text)."""
    return str(getattr(exc, "error_id", "") or "media-seal-failed")

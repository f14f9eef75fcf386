"""The sealed content store: voicemail audio, recordings, transcripts and SMS bodies.

Objects are named by (tenant, data class, object id) and written once (``put`` of a live
object id is refused; delete it first). Each object gets its own data key
(:meth:`fabric.vault.vault.Vault.new_data_key`); its bytes are cut into chunks, each sealed
with AES-256-GCM under that key with associated data binding tenant, class, object id, key
id, chunk number and whether it is the last chunk, so a chunk moved, reordered, dropped from
the end or altered fails with ``vault-tampered`` / ``vault-context-mismatch`` instead of
returning garbage. The caller's metadata (a small ``str -> str`` map, e.g. the caller's
number of a voicemail) is sealed the same way.

Reads stream: :meth:`ContentStore.open` checks the object and unwraps its key (errors are
raised there), then :meth:`ContentReader.chunks` yields plaintext chunks one by one.
``delete`` makes the object unreadable at once (its row is marked deleted, its chunks are
dropped, its data key refuses to unwrap) and schedules the key's destruction at the end of
the backup window (:mod:`fabric.vault.shredding`).

Storage is a :class:`ContentBackend`: ``fabric.storage.sqlite_content`` (embedded: object
rows in SQLite, chunks in one file per object) and ``fabric.storage.cassandra_content``
(64 KB chunks in one partition per object). Both pass ``tests/integration/storage/
test_content_contract.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.errors import AlreadyExists, InvalidArgument, NotFound
from fabric.vault import crypto
from fabric.vault.errors import VaultTampered
from fabric.vault.vault import Vault, count

VOICEMAIL = "voicemail"
RECORDING = "recording"
TRANSCRIPT = "transcript"
SMS_BODY = "sms-body"
SMS_PAGE = "sms-page"  # a page of a conversation's older message metadata (actors/sms/history)
CONTENT_CLASSES = frozenset({VOICEMAIL, RECORDING, TRANSCRIPT, SMS_BODY, SMS_PAGE})
OBJECT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
MAX_META_BYTES = 16 * 1024
_CHUNK_OVERHEAD = crypto.NONCE_BYTES + crypto.TAG_BYTES


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """What a backend keeps about one object (all bytes personal are sealed)."""

    tenant_id: str
    data_class: str
    object_id: str
    key_id: str
    size: int
    chunk_count: int
    chunk_size: int
    created: float
    sealed_meta: bytes
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """An object as callers see it: its name, size, creation time and metadata."""

    tenant_id: str
    data_class: str
    object_id: str
    size: int
    created: float
    metadata: dict[str, str] = field(default_factory=dict)


class ChunkWriter(Protocol):
    """Receives the sealed chunks of one object being written."""

    async def write(self, chunk_no: int, nonce: bytes, ciphertext: bytes) -> None:
        """Store one sealed chunk: its nonce, then its ciphertext and tag (kept apart so a
        file backend writes them without concatenating 256 KB)."""
        ...

    async def commit(self) -> None:
        """Make every chunk written so far durable."""
        ...

    async def abort(self) -> None:
        """Drop what was written."""
        ...


@runtime_checkable
class ContentBackend(Protocol):
    """Sealed chunks and object rows; knows nothing of keys."""

    chunk_size: int

    async def object(self, tenant_id: str, data_class: str, object_id: str) -> ObjectRow | None:
        """The object's row (deleted or not), or None."""
        ...

    async def writer(self, key_id: str) -> ChunkWriter:
        """A writer for the chunks of a new object."""
        ...

    async def put_object(self, row: ObjectRow) -> bool:
        """Insert the row unless a live object has the name; False if one has."""
        ...

    def read_chunks(self, key_id: str, chunk_count: int) -> AsyncIterator[bytes | memoryview]:
        """The sealed chunks in order (fewer than ``chunk_count`` if some are missing)."""
        ...

    async def mark_deleted(self, tenant_id: str, data_class: str, object_id: str) -> None:
        """Mark the row deleted and drop its sealed metadata."""
        ...

    async def drop_chunks(self, key_id: str) -> None:
        """Remove the object's chunks."""
        ...

    async def list_objects(self, tenant_id: str, data_class: str) -> list[ObjectRow]:
        """The tenant's live objects of a class, by object id."""
        ...

    async def close(self) -> None:
        """Release files and connections."""
        ...


def _chunk_aad(row: ObjectRow | tuple[str, str, str, str], n: int, last: bool) -> bytes:
    t = (row.tenant_id, row.data_class, row.object_id, row.key_id) if isinstance(
        row, ObjectRow
    ) else row
    return crypto.context_aad("chunk", *t, n, int(last))


def _meta_aad(t: tuple[str, str, str, str]) -> bytes:
    return crypto.context_aad("meta", *t)


def _check(tenant_id: str, data_class: str, object_id: str) -> None:
    if data_class not in CONTENT_CLASSES:
        raise InvalidArgument(
            f"data_class must be one of {', '.join(sorted(CONTENT_CLASSES))}",
            error_id="content-invalid-class",
            details={"field": "data_class"},
        )
    for name, value in (("tenant_id", tenant_id), ("object_id", object_id)):
        if not isinstance(value, str) or not OBJECT_ID_RE.match(value):
            raise InvalidArgument(
                f"{name} must be 1-128 letters, digits and '._:@-', starting with a letter or "
                "digit",
                error_id="content-invalid-id",
                details={"field": name},
            )


async def _rechunk(
    data: bytes | AsyncIterable[bytes], size: int
) -> AsyncIterator[bytes | memoryview]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)  # slices are views: the cipher reads the caller's buffer
        for i in range(0, len(view), size):
            yield view[i : i + size]
        return
    buf = bytearray()
    async for piece in data:
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


class ContentReader:
    """An opened object: its info, and its plaintext chunks streamed by :meth:`chunks`."""

    def __init__(self, store: ContentStore, row: ObjectRow, info: ContentInfo, aead: AESGCM):
        self._store = store
        self._row = row
        self.info = info
        self._aead = aead

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield plaintext chunks in order; raise ``VaultTampered`` on any damage."""
        row = self._row
        n = 0
        try:
            async for blob in self._store.backend.read_chunks(row.key_id, row.chunk_count):
                if n >= row.chunk_count:
                    break
                last = n == row.chunk_count - 1
                yield crypto.decrypt(self._aead, blob, _chunk_aad(row, n, last), "content chunk")
                n += 1
            if n != row.chunk_count:
                raise VaultTampered(
                    f"{row.data_class} object is missing chunks ({n} of {row.chunk_count}): "
                    "deleted meanwhile or damaged",
                    details={"what": "content chunk"},
                )
        except Exception as exc:
            count("unseal", row.data_class, getattr(exc, "error_id", "error"))
            raise
        count("unseal", row.data_class)

    async def read_all(self) -> bytes:
        """The whole object (for small objects; stream large ones)."""
        return b"".join([c async for c in self.chunks()])


class ContentStore:
    """Sealed blobs by (tenant, class, object id); see the module doc."""

    def __init__(self, vault: Vault, backend: ContentBackend) -> None:
        self.vault = vault
        self.backend = backend

    async def put(
        self,
        tenant_id: str,
        data_class: str,
        object_id: str,
        data: bytes | AsyncIterable[bytes],
        metadata: dict[str, str] | None = None,
    ) -> ContentInfo:
        """Seal and store a new object; ``AlreadyExists`` when a live one has the name."""
        _check(tenant_id, data_class, object_id)
        meta = dict(metadata or {})
        raw_meta = json.dumps(meta, separators=(",", ":")).encode()
        if len(raw_meta) > MAX_META_BYTES or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise InvalidArgument(
                f"metadata must be a str -> str map of at most {MAX_META_BYTES} bytes as JSON",
                error_id="content-invalid-metadata",
                details={"field": "metadata"},
            )
        # no read of the name first: put_object refuses a live name (then the chunks and
        # the key are dropped below), so a new object costs one store round trip less
        key = await self.vault.new_data_key(tenant_id, data_class, object_id)
        names = (tenant_id, data_class, object_id, key.key_id)
        writer = await self.backend.writer(key.key_id)
        size = 0
        n = 0
        try:
            pending: bytes | memoryview | None = None
            async for piece in _rechunk(data, self.backend.chunk_size):
                if pending is not None:
                    aad = _chunk_aad(names, n, False)
                    await writer.write(n, *crypto.encrypt_parts(key.aead, pending, aad))
                    n += 1
                pending = piece
                size += len(piece)
            aad = _chunk_aad(names, n, True)
            await writer.write(n, *crypto.encrypt_parts(key.aead, pending or b"", aad))
            n += 1
            await writer.commit()
            row = ObjectRow(
                tenant_id, data_class, object_id, key.key_id, size, n, self.backend.chunk_size,
                self.vault.clock.now(), crypto.encrypt(key.aead, raw_meta, _meta_aad(names)),
            )
            if not await self.backend.put_object(row):
                raise _exists(data_class)
        except BaseException as exc:
            await writer.abort()
            await self.vault.delete_data_key(tenant_id, key.key_id)
            count("seal", data_class, getattr(exc, "error_id", "error"))
            raise
        count("seal", data_class)
        return ContentInfo(tenant_id, data_class, object_id, size, row.created, meta)

    async def _row(self, tenant_id: str, data_class: str, object_id: str) -> ObjectRow:
        _check(tenant_id, data_class, object_id)
        row = await self.backend.object(tenant_id, data_class, object_id)
        if row is None or row.deleted:
            raise NotFound(
                f"no {data_class} object with this id for this tenant",
                error_id="content-not-found",
            )
        return row

    async def _info(self, row: ObjectRow, aead: AESGCM) -> ContentInfo:
        names = (row.tenant_id, row.data_class, row.object_id, row.key_id)
        raw = crypto.decrypt(aead, row.sealed_meta, _meta_aad(names), "content metadata")
        return ContentInfo(
            row.tenant_id, row.data_class, row.object_id, row.size, row.created, json.loads(raw)
        )

    async def open(self, tenant_id: str, data_class: str, object_id: str) -> ContentReader:
        """Open an object for streaming; raises ``NotFound`` (absent or deleted), or a vault
        error (destroyed key, wrong context, damage) before any byte is returned."""
        row = await self._row(tenant_id, data_class, object_id)
        try:
            key = await self.vault.open_data_key(tenant_id, data_class, object_id, row.key_id)
            info = await self._info(row, key.aead)
        except Exception as exc:
            count("unseal", data_class, getattr(exc, "error_id", "error"))
            raise
        return ContentReader(self, row, info, key.aead)

    async def get(self, tenant_id: str, data_class: str, object_id: str) -> AsyncIterator[bytes]:
        """Stream an object's plaintext chunks (``open(...).chunks()``)."""
        reader = await self.open(tenant_id, data_class, object_id)
        return reader.chunks()

    async def info(self, tenant_id: str, data_class: str, object_id: str) -> ContentInfo:
        """An object's size, creation time and metadata."""
        return (await self.open(tenant_id, data_class, object_id)).info

    async def list(self, tenant_id: str, data_class: str) -> list[ContentInfo]:
        """The tenant's live objects of a class, by object id, with their metadata."""
        _check(tenant_id, data_class, "x")
        out = []
        for row in await self.backend.list_objects(tenant_id, data_class):
            key = await self.vault.open_data_key(tenant_id, data_class, row.object_id, row.key_id)
            out.append(await self._info(row, key.aead))
        return out

    async def delete(self, tenant_id: str, data_class: str, object_id: str) -> float:
        """Delete an object: unreadable at once; its key destroyed after the backup window.
        Return the destruction's due time (unix seconds)."""
        row = await self._row(tenant_id, data_class, object_id)
        due = await self.vault.delete_data_key(tenant_id, row.key_id)
        await self.backend.mark_deleted(tenant_id, data_class, object_id)
        await self.backend.drop_chunks(row.key_id)
        count("delete", data_class)
        return due

    async def close(self) -> None:
        """Close the backend (the vault is closed by its owner)."""
        await self.backend.close()


def _exists(data_class: str) -> AlreadyExists:
    return AlreadyExists(
        f"a {data_class} object with this id exists; delete it first or use another id",
        error_id="content-exists",
    )


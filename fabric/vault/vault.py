"""The vault: the key hierarchy and sealing of records, used by every store of the fabric.

Hierarchy: a root key version (from a :class:`~fabric.vault.provider.KeyProvider`) wraps
each *tenant key* version; a tenant key version wraps *data keys*. Data keys are of two kinds:

- per-object keys (:meth:`Vault.new_data_key`): one per voicemail, recording, transcript or
  SMS body in the content store; deleting the object schedules its key's destruction;
- per-tenant, per-class *record keys* (:meth:`Vault.record_sealer`) for small records such as
  the numbers of a CDR or an actor's state, and one *blind-index key* per tenant
  (:meth:`Vault.indexer`) for searching sealed numbers by an HMAC.

Every wrap binds its context as AES-GCM associated data: a tenant key its tenant and
version, a data key its tenant, class, object id, key id and tenant key version, a record
its tenant, class, object id and key generation. Rotation adds a root or tenant version; old
versions keep unwrapping until :meth:`Vault.rewrap` moves every key to the current ones.

Records that must outlive their tenant's account (CDRs and message records: 7 years,
regulatory) keep their record keys and the blind-index key when the account's data is
purged: :meth:`Vault.retain_record_keys` re-wraps those few keys directly under the root key
(``tenant_version`` :data:`RETAINED`) before :meth:`Vault.destroy_tenant` destroys the tenant
key, and :meth:`Vault.destroy_retained_keys` destroys them when the records' period ends.

Unwrapped tenant and record keys are cached for ``key_cache_s`` seconds, so sealing a record
costs one AES-GCM call. Destroying a tenant's keys clears this process's cache at once;
another process stops using its cached copy within ``key_cache_s`` (the content store checks
the object's state on every read, so a deleted object is unreadable at once everywhere).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.clock import Clock, SystemClock
from fabric.vault import crypto
from fabric.vault.errors import (
    VaultContextMismatch,
    VaultKeyDestroyed,
    VaultKeyVersionMissing,
    VaultTampered,
)
from fabric.vault.keystore import DataKeyRecord, Destruction, KeyStore, TenantKeyRecord
from fabric.vault.metrics import (
    VAULT_CURRENT_VERSION,
    VAULT_KEY_UNWRAPS,
    VAULT_KEYS_DESTROYED,
    VAULT_OPS,
)
from fabric.vault.provider import KeyProvider, WrappedKey

log = logging.getLogger(__name__)
SYSTEM_TENANT = "_system"  # owner of data with no tenant (actor state); not a valid tenant id
RECORD_GENERATION = 1
INDEX_KEY_ID = "index.1"
INDEX_CLASS = "blind-index"
RETAINED = 0
"""``tenant_version`` of a key wrapped directly under the root key, kept past the
destruction of its tenant key (tenant key versions start at 1)."""
_INDEX_MEMO = 4096  # blind indexes remembered per tenant


def tenant_key_aad(tenant_id: str, version: int) -> bytes:
    """Associated data of a wrapped tenant key."""
    return crypto.context_aad("tenant-key", tenant_id, version)


def data_key_aad(record: DataKeyRecord, tenant_version: int) -> bytes:
    """Associated data of a wrapped data key."""
    r = record
    return crypto.context_aad(
        "data-key", r.tenant_id, r.data_class, r.object_id, r.key_id, tenant_version
    )


def retained_key_aad(record: DataKeyRecord) -> bytes:
    """Associated data of a record key wrapped directly under the root key."""
    r = record
    return crypto.context_aad("retained-key", r.tenant_id, r.data_class, r.key_id)


def _pack_root_wrapped(wrapped: WrappedKey) -> bytes:
    return wrapped.version.to_bytes(4, "big") + wrapped.blob


def _unpack_root_wrapped(blob: bytes) -> WrappedKey:
    return WrappedKey(int.from_bytes(blob[:4], "big"), blob[4:])


def record_key_id(data_class: str) -> str:
    """The key id of a tenant's record key of ``data_class``."""
    return f"record.{data_class}.{RECORD_GENERATION}"


def _record_key_ids(data_classes: tuple[str, ...]) -> list[str]:
    """The key ids of the record keys of ``data_classes`` and of the blind index."""
    return [record_key_id(c) for c in data_classes] + [INDEX_KEY_ID]


_bound: dict[tuple[str, str, str], object] = {}


def count(op: str, data_class: str, outcome: str = "ok", n: int = 1) -> None:
    """Count vault operations (bound metric children cached)."""
    key = (op, data_class, outcome)
    child = _bound.get(key)
    if child is None:
        child = _bound[key] = VAULT_OPS.labels(op=op, data_class=data_class, outcome=outcome)
    child.inc(n)  # type: ignore[attr-defined]


@dataclass(slots=True)
class _TenantKeys:
    versions: dict[int, AESGCM]
    current: int
    expires: float


@dataclass(frozen=True, slots=True)
class DataKey:
    """An unwrapped per-object data key (never stored unwrapped)."""

    key_id: str
    aead: AESGCM


class RecordSealer:
    """Seals small records of one tenant and data class under its record key."""

    def __init__(
        self, tenant_id: str, data_class: str, aead: AESGCM, generation: int = RECORD_GENERATION
    ) -> None:
        self.tenant_id = tenant_id
        self.data_class = data_class
        self.generation = generation
        self._aead = aead
        self._prefix = crypto.record_context(tenant_id, data_class)
        self._sealed = VAULT_OPS.labels(op="seal", data_class=data_class, outcome="ok")
        self._opened = VAULT_OPS.labels(op="unseal", data_class=data_class, outcome="ok")

    def seal(self, object_id: str, data: bytes) -> bytes:
        """Seal ``data`` bound to ``object_id``."""
        blob = crypto.seal_record(self._aead, self.generation, self._prefix, object_id, data)
        self._sealed.inc()
        return blob

    def open(self, object_id: str, blob: bytes) -> bytes:
        """Open a record sealed for ``object_id``; raise on any mismatch or damage."""
        try:
            data = crypto.open_record(self._aead, self._prefix, self.data_class, object_id, blob)
        except Exception as exc:
            count("unseal", self.data_class, getattr(exc, "error_id", "error"))
            raise
        self._opened.inc()
        return data


class BlindIndexer:
    """Keyed blind index of one tenant: HMAC-SHA256 under the tenant's index key."""

    def __init__(self, key: bytes) -> None:
        # HMAC (RFC 2104) with the padded key's inner and outer hash states computed once:
        # per value, two C-level copies instead of the hmac module's Python-level copy.
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        # a tenant's own numbers recur in most of its CDRs: remember recent indexes (in
        # memory only, dropped with the indexer when the key cache expires)
        self._memo: dict[str, str] = {}

    def index(self, value: str) -> str:
        """32 hex chars naming ``value`` for equality search, without revealing it:
        the first 128 bits of HMAC-SHA256(index key, value)."""
        known = self._memo.get(value)
        if known is not None:
            return known
        inner = self._inner.copy()
        inner.update(value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        index = outer.digest()[:16].hex()
        if len(self._memo) >= _INDEX_MEMO:
            self._memo.clear()
        self._memo[value] = index
        return index


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """What :meth:`Vault.rewrap` changed."""

    tenant_keys_rewrapped: int
    data_keys_rewrapped: int
    root_versions_retired: list[int]
    tenant_versions_retired: int
    failed: int = 0  # keys that could not be unwrapped (damaged, or another root's): kept


class Vault:
    """Keys and sealing for one process; share one instance."""

    def __init__(
        self,
        provider: KeyProvider,
        keys: KeyStore,
        *,
        backup_window_s: float = 30 * 86400.0,
        key_cache_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.provider = provider
        self.keys = keys
        self.backup_window_s = backup_window_s
        self.clock: Clock = clock or SystemClock()
        self.key_cache_s = key_cache_s
        self._tenants: dict[str, _TenantKeys] = {}
        self._sealers: dict[tuple[str, str], tuple[RecordSealer, float]] = {}
        self._indexers: dict[str, tuple[BlindIndexer, float]] = {}
        self.generation = 0  # bumped when a tenant's keys are dropped from the cache

    # --- tenant keys -----------------------------------------------------------------------

    async def _tenant(self, tenant_id: str) -> _TenantKeys:
        cached = self._tenants.get(tenant_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        records = await self.keys.tenant_keys(tenant_id)
        if not records:
            await self._add_tenant_version(tenant_id, 1)
            records = await self.keys.tenant_keys(tenant_id)
        if any(r.destroyed for r in records):
            self._forget(tenant_id)
            raise VaultKeyDestroyed(
                "this tenant's keys were destroyed (account closed); its sealed data is gone",
                error_id="vault-tenant-destroyed",
            )
        versions: dict[int, AESGCM] = {}
        for r in records:
            raw = await self.provider.unwrap(
                WrappedKey(r.root_version, r.wrapped), tenant_key_aad(tenant_id, r.version)
            )
            VAULT_KEY_UNWRAPS.labels(level="root", version=str(r.root_version)).inc()
            versions[r.version] = AESGCM(raw)
        keys = _TenantKeys(versions, max(versions), time.monotonic() + self.key_cache_s)
        self._tenants[tenant_id] = keys
        return keys

    async def _add_tenant_version(self, tenant_id: str, version: int) -> bool:
        wrapped = await self.provider.wrap(crypto.new_key(), tenant_key_aad(tenant_id, version))
        VAULT_CURRENT_VERSION.labels(level="root").set(wrapped.version)
        return await self.keys.add_tenant_key(
            TenantKeyRecord(tenant_id, version, wrapped.version, wrapped.blob)
        )

    def _forget(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)
        self.generation += 1
        self._indexers.pop(tenant_id, None)
        for key in [k for k in self._sealers if k[0] == tenant_id]:
            del self._sealers[key]

    async def rotate_tenant(self, tenant_id: str) -> int:
        """Add a new tenant key version (new data keys use it); return it."""
        current = (await self._tenant(tenant_id)).current
        version = current + 1
        while not await self._add_tenant_version(tenant_id, version):
            version += 1
        self._forget(tenant_id)
        return version

    async def rotate_root(self) -> int:
        """Make a new root version (new and re-wrapped tenant keys use it); return it."""
        version = await self.provider.rotate()
        VAULT_CURRENT_VERSION.labels(level="root").set(version)
        return version

    async def destroy_tenant(self, tenant_id: str) -> None:
        """Destroy every version of the tenant's key: all its sealed data becomes unreadable
        (content, sealed CDR numbers, records), in every copy. For account closure."""
        await self.keys.destroy_tenant(tenant_id)
        self._forget(tenant_id)
        VAULT_KEYS_DESTROYED.labels(level="tenant").inc()

    # --- data keys -------------------------------------------------------------------------

    async def _wrap_data_key(self, record: DataKeyRecord, raw: bytes) -> DataKeyRecord:
        tk = await self._tenant(record.tenant_id)
        v = tk.current
        wrapped = crypto.encrypt(tk.versions[v], raw, data_key_aad(record, v))
        return DataKeyRecord(
            record.tenant_id, record.key_id, record.data_class, record.object_id, v, wrapped
        )

    async def _unwrap_data_key(self, record: DataKeyRecord) -> bytes:
        tk = await self._tenant(record.tenant_id)
        aead = tk.versions.get(record.tenant_version)
        if aead is None:
            self._forget(record.tenant_id)  # maybe rotated elsewhere: reload once
            tk = await self._tenant(record.tenant_id)
            aead = tk.versions.get(record.tenant_version)
        if aead is None:
            raise VaultKeyVersionMissing(
                f"tenant key version {record.tenant_version} is gone; it was retired before "
                "this data key was re-wrapped",
                details={"version": record.tenant_version},
            )
        VAULT_KEY_UNWRAPS.labels(level="tenant", version=str(record.tenant_version)).inc()
        return crypto.decrypt(
            aead, record.wrapped, data_key_aad(record, record.tenant_version), "wrapped data key"
        )

    async def new_data_key(self, tenant_id: str, data_class: str, object_id: str) -> DataKey:
        """A fresh data key for one object, stored wrapped under the current tenant key."""
        raw = crypto.new_key()
        key_id = uuid.uuid4().hex
        record = await self._wrap_data_key(
            DataKeyRecord(tenant_id, key_id, data_class, object_id, 0, b""), raw
        )
        await self.keys.add_data_key(record)
        return DataKey(key_id, AESGCM(raw))

    async def open_data_key(
        self, tenant_id: str, data_class: str, object_id: str, key_id: str
    ) -> DataKey:
        """Unwrap the data key of an object; raise if it is not this object's, deleted,
        destroyed or damaged."""
        record = await self.keys.data_key(tenant_id, key_id)
        if record is None or (record.data_class, record.object_id) != (data_class, object_id):
            count("unwrap", data_class, "vault-context-mismatch")
            raise VaultContextMismatch(
                f"the {data_class} object names a data key of another tenant or object",
                details={"data_class": data_class},
            )
        if not record.wrapped:
            count("unwrap", data_class, "vault-key-destroyed")
            raise VaultKeyDestroyed(
                f"the data key of this {data_class} object was destroyed (deleted and past the "
                "backup window): it cannot be read from any copy",
                details={"data_class": data_class},
            )
        if record.deleted:
            count("unwrap", data_class, "vault-object-deleted")
            raise VaultKeyDestroyed(
                f"this {data_class} object was deleted; it can no longer be read",
                error_id="vault-object-deleted",
                details={"data_class": data_class},
            )
        return DataKey(key_id, AESGCM(await self._unwrap_data_key(record)))

    async def delete_data_key(self, tenant_id: str, key_id: str) -> float:
        """Make the key unusable now and schedule its destruction at the end of the backup
        window; return the due time (unix seconds)."""
        due = self.clock.now() + self.backup_window_s
        await self.keys.schedule_destruction(tenant_id, key_id, due)
        return due

    # --- records and the blind index -------------------------------------------------------

    async def _named_key(self, tenant_id: str, data_class: str, key_id: str) -> bytes:
        record = await self.keys.data_key(tenant_id, key_id)
        if record is None:
            raw = crypto.new_key()
            fresh = await self._wrap_data_key(
                DataKeyRecord(tenant_id, key_id, data_class, "", 0, b""), raw
            )
            if await self.keys.add_data_key(fresh):
                return raw
            record = await self.keys.data_key(tenant_id, key_id)  # another process won
            assert record is not None
        if not record.wrapped:
            raise VaultKeyDestroyed(
                f"the {data_class} key of this tenant was destroyed",
                details={"data_class": data_class},
            )
        if record.tenant_version == RETAINED:
            return await self._unwrap_retained(record)
        return await self._unwrap_data_key(record)

    async def _unwrap_retained(self, record: DataKeyRecord) -> bytes:
        wrapped = _unpack_root_wrapped(record.wrapped)
        VAULT_KEY_UNWRAPS.labels(level="root", version=str(wrapped.version)).inc()
        return await self.provider.unwrap(wrapped, retained_key_aad(record))

    async def retain_record_keys(self, tenant_id: str, data_classes: tuple[str, ...]) -> int:
        """Before the tenant key is destroyed: wrap the record keys of ``data_classes`` and
        the blind-index key directly under the root key, so the records sealed with them
        (e.g. CDR numbers, kept 7 years) still open, and stay searchable, once
        :meth:`destroy_tenant` has run. Idempotent; returns how many keys it re-wrapped."""
        moved = 0
        for key_id in _record_key_ids(data_classes):
            record = await self.keys.data_key(tenant_id, key_id)
            if record is None or not record.wrapped or record.tenant_version == RETAINED:
                continue
            raw = await self._unwrap_data_key(record)
            wrapped = await self.provider.wrap(raw, retained_key_aad(record))
            await self.keys.rewrap_data_key(tenant_id, key_id, RETAINED,
                                            _pack_root_wrapped(wrapped))
            moved += 1
        return moved

    async def destroy_retained_keys(self, tenant_id: str, data_classes: tuple[str, ...]) -> int:
        """Destroy the keys :meth:`retain_record_keys` kept (the records' period is over):
        what they sealed becomes unreadable. Idempotent; returns how many it destroyed."""
        destroyed = 0
        for key_id in _record_key_ids(data_classes):
            record = await self.keys.data_key(tenant_id, key_id)
            if record is None or not record.wrapped:
                continue
            await self.keys.destroy_data_key(Destruction(self.clock.now(), tenant_id, key_id))
            destroyed += 1
        self._forget(tenant_id)
        VAULT_KEYS_DESTROYED.labels(level="data").inc(destroyed)
        return destroyed

    async def record_sealer(self, tenant_id: str, data_class: str) -> RecordSealer:
        """The sealer of a tenant's small records of one class (cached)."""
        cached = self._sealers.get((tenant_id, data_class))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        raw = await self._named_key(tenant_id, data_class, record_key_id(data_class))
        sealer = RecordSealer(tenant_id, data_class, AESGCM(raw))
        self._sealers[(tenant_id, data_class)] = (sealer, time.monotonic() + self.key_cache_s)
        return sealer

    async def indexer(self, tenant_id: str) -> BlindIndexer:
        """The tenant's blind indexer (cached); stable across key rotations."""
        cached = self._indexers.get(tenant_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        indexer = BlindIndexer(await self._named_key(tenant_id, INDEX_CLASS, INDEX_KEY_ID))
        self._indexers[tenant_id] = (indexer, time.monotonic() + self.key_cache_s)
        return indexer

    async def seal(self, tenant_id: str, data_class: str, object_id: str, data: bytes) -> bytes:
        """Seal a small record (see :meth:`record_sealer`)."""
        return (await self.record_sealer(tenant_id, data_class)).seal(object_id, data)

    async def open(self, tenant_id: str, data_class: str, object_id: str, blob: bytes) -> bytes:
        """Open a small record sealed by :meth:`seal` in the same context."""
        try:
            crypto.record_generation(blob)
            sealer = await self.record_sealer(tenant_id, data_class)
        except Exception as exc:
            count("unseal", data_class, getattr(exc, "error_id", "error"))
            raise
        return sealer.open(object_id, blob)

    # --- rotation --------------------------------------------------------------------------

    async def rewrap(self, *, retire: bool = False) -> RewrapReport:
        """Re-wrap every tenant key under the current root version and every data key under
        its tenant's current version; with ``retire``, then remove root and tenant key
        versions nothing uses any more."""
        root = await self.provider.current_version()
        tenant_rewrapped = failed = 0
        for r in await self.keys.all_tenant_keys():
            if r.destroyed or r.root_version == root:
                continue
            aad = tenant_key_aad(r.tenant_id, r.version)
            try:
                raw = await self.provider.unwrap(WrappedKey(r.root_version, r.wrapped), aad)
            except (VaultTampered, VaultKeyVersionMissing):
                failed += 1  # left as it is; the report says how many
                continue
            wrapped = await self.provider.wrap(raw, aad)
            await self.keys.rewrap_tenant_key(r.tenant_id, r.version, wrapped.version, wrapped.blob)
            tenant_rewrapped += 1
        self._tenants.clear()
        data_rewrapped = 0
        for d in await self.keys.all_data_keys():
            if d.tenant_version == RETAINED:  # wrapped by the root key itself
                if d.wrapped and _unpack_root_wrapped(d.wrapped).version != root:
                    try:
                        raw = await self._unwrap_retained(d)
                    except (VaultTampered, VaultKeyVersionMissing):
                        failed += 1
                        continue
                    wrapped = await self.provider.wrap(raw, retained_key_aad(d))
                    await self.keys.rewrap_data_key(d.tenant_id, d.key_id, RETAINED,
                                                    _pack_root_wrapped(wrapped))
                    data_rewrapped += 1
                continue
            try:
                tk = await self._tenant(d.tenant_id)
                if d.tenant_version == tk.current:
                    continue
                raw = await self._unwrap_data_key(d)
            except VaultKeyDestroyed:
                continue
            except (VaultTampered, VaultKeyVersionMissing):
                failed += 1
                continue
            new = await self._wrap_data_key(d, raw)
            await self.keys.rewrap_data_key(d.tenant_id, d.key_id, new.tenant_version, new.wrapped)
            data_rewrapped += 1
        retired_roots: list[int] = []
        retired_tenant = 0
        if retire:
            retired_tenant = await self._retire_tenant_versions()
            used = {r.root_version for r in await self.keys.all_tenant_keys() if not r.destroyed}
            used |= {_unpack_root_wrapped(d.wrapped).version
                     for d in await self.keys.all_data_keys()
                     if d.tenant_version == RETAINED and d.wrapped}
            for v in await self.provider.versions():
                if v != root and v not in used:
                    await self.provider.retire(v)
                    retired_roots.append(v)
        self._tenants.clear()
        if failed:
            log.warning("rewrap left %d keys it could not unwrap", failed)
        return RewrapReport(
            tenant_rewrapped, data_rewrapped, retired_roots, retired_tenant, failed
        )

    async def _retire_tenant_versions(self) -> int:
        used = {(d.tenant_id, d.tenant_version) for d in await self.keys.all_data_keys()}
        by_tenant: dict[str, list[TenantKeyRecord]] = {}
        for r in await self.keys.all_tenant_keys():
            by_tenant.setdefault(r.tenant_id, []).append(r)
        retired = 0
        for tenant_id, records in by_tenant.items():
            if any(r.destroyed for r in records):
                continue
            current = max(r.version for r in records)
            for r in records:
                if r.version != current and (tenant_id, r.version) not in used:
                    await self.keys.retire_tenant_key(tenant_id, r.version)
                    retired += 1
        return retired

    async def close(self) -> None:
        """Close the key store."""
        await self.keys.close()

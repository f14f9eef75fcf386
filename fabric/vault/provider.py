"""Root key-encryption keys: the :class:`KeyProvider` contract and the local file provider.

The contract (what a cloud KMS or a HashiCorp Vault transit engine must offer to replace the
local file without touching any caller):

- ``wrap(key, context)`` encrypts a 32-byte tenant key under the provider's *current* root
  version and returns :class:`WrappedKey` (that version and an opaque blob). ``context`` is
  associated data (KMS "encryption context", transit "context"): the same bytes must be
  given to ``unwrap``.
- ``unwrap(wrapped, context)`` returns the key, or raises ``VaultKeyVersionMissing`` when the
  version is unknown or retired, and ``VaultTampered`` when the blob or context do not
  authenticate. It never returns unauthenticated bytes.
- ``current_version()`` is the version new wraps use; ``versions()`` every version that can
  still unwrap. ``rotate()`` makes a new current version (old ones keep unwrapping) and
  ``retire(version)`` removes one that no wrapped key uses any more (after a re-wrap).
- Versions are positive integers; an adapter maps them to its backend's key versions.
- Calls are async (a KMS is a network call); the vault caches unwrapped tenant keys, so
  ``unwrap`` runs once per tenant key per cache period, not per record.

:class:`LocalFileKeyProvider` keeps every root version in one JSON file (mode 0600, in a
0700 directory, outside the data directory: ``vault.root_key_file``). The file is created on
first use with ``O_EXCL`` semantics (written aside, then hard-linked into place), so two
processes starting together agree on one root key. Whoever can read that file and a copy of
the data can read the data: keep it off backups of the data directory.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.errors import InvalidArgument
from fabric.vault.crypto import KEY_BYTES, decrypt, encrypt, new_key
from fabric.vault.errors import VaultKeyVersionMissing


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A key encrypted under one version of a wrapping key."""

    version: int
    blob: bytes


@runtime_checkable
class KeyProvider(Protocol):
    """Holds the root key-encryption key versions; see the module doc for the contract."""

    async def wrap(self, key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``key`` under the current root version, bound to ``context``."""
        ...

    async def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Decrypt a wrapped key; raise, never return unauthenticated bytes."""
        ...

    async def current_version(self) -> int:
        """The root version new wraps use."""
        ...

    async def versions(self) -> list[int]:
        """Every root version that can still unwrap, ascending."""
        ...

    async def rotate(self) -> int:
        """Make a new current root version; return it."""
        ...

    async def retire(self, version: int) -> None:
        """Remove a root version no wrapped key uses any more."""
        ...


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make the directory itself mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write a 0600 file atomically (aside, then into place); with ``exclusive`` only if
    absent. Return False when ``exclusive`` and the file already existed."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".key")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
            tmp = ""
        return True
    finally:
        if tmp:
            os.unlink(tmp)


class LocalFileKeyProvider:
    """Root key versions in a local 0600 JSON file (the default provider)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._keys: dict[int, AESGCM] = {}
        self._current = 0
        self._loaded_sig: tuple[int, int] | None = None
        self._raw: dict[int, bytes] = {}

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            body = {"current": 1, "versions": {"1": base64.b64encode(new_key()).decode()}}
            write_private(self.path, json.dumps(body).encode(), exclusive=True)
            stat = self.path.stat()
        if self._loaded_sig == (stat.st_ino, stat.st_mtime_ns) and self._keys:
            return
        if stat.st_mode & 0o077:
            os.chmod(self.path, 0o600)
        try:
            body = json.loads(self.path.read_bytes())
            keys = {int(v): base64.b64decode(k) for v, k in body["versions"].items()}
            current = int(body["current"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(
                f"root key file {self.path} is not a vault key file; restore it from its "
                "backup (data sealed under it cannot be read without it)",
                error_id="vault-bad-key-file",
            ) from exc
        if current not in keys or any(len(k) != KEY_BYTES for k in keys.values()):
            raise InvalidArgument(
                f"root key file {self.path} is damaged (current version or key length)",
                error_id="vault-bad-key-file",
            )
        self._keys = {v: AESGCM(k) for v, k in keys.items()}
        self._raw = keys
        self._current = current
        self._loaded_sig = (stat.st_ino, stat.st_mtime_ns)

    def _save(self, keys: dict[int, bytes], current: int) -> None:
        body = {
            "current": current,
            "versions": {str(v): base64.b64encode(k).decode() for v, k in sorted(keys.items())},
        }
        write_private(self.path, json.dumps(body).encode())
        self._loaded_sig = None
        self._load()

    async def wrap(self, key: bytes, context: bytes) -> WrappedKey:
        """Encrypt ``key`` under the current root version."""
        self._load()
        return WrappedKey(self._current, encrypt(self._keys[self._current], key, context))

    async def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """Decrypt a wrapped tenant key."""
        self._load()
        aead = self._keys.get(wrapped.version)
        if aead is None:
            self._loaded_sig = None  # another process may have rotated: read the file again
            self._load()
            aead = self._keys.get(wrapped.version)
        if aead is None:
            raise VaultKeyVersionMissing(
                f"root key version {wrapped.version} is not in {self.path}; it was retired "
                "before every tenant key was re-wrapped, or the file is another installation's",
                details={"version": wrapped.version},
            )
        return decrypt(aead, wrapped.blob, context, "wrapped tenant key")

    async def current_version(self) -> int:
        """The version new wraps use."""
        self._load()
        return self._current

    async def versions(self) -> list[int]:
        """Every version in the file."""
        self._load()
        return sorted(self._keys)

    async def rotate(self) -> int:
        """Add a new version and make it current."""
        self._loaded_sig = None
        self._load()
        keys = dict(self._raw)
        current = max(keys) + 1
        keys[current] = new_key()
        self._save(keys, current)
        return current

    async def retire(self, version: int) -> None:
        """Remove an old version (never the current one)."""
        self._loaded_sig = None
        self._load()
        if version == self._current:
            raise InvalidArgument(
                "the current root key version cannot be retired; rotate first",
                error_id="vault-retire-current",
            )
        keys = {v: k for v, k in self._raw.items() if v != version}
        self._save(keys, self._current)

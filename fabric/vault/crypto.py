"""AES-256-GCM primitives and the associated-data encoding every vault ciphertext uses.

A sealed record is ``MAGIC (2) | key generation (4) | context fingerprint (4) | nonce (12) |
ciphertext and tag``. The associated data is the header (so the key generation) and the
context (tenant, data class, object id), so a blob moved to another tenant or object fails
authentication. The fingerprint (CRC-32 of tenant, class and object id) only lets the vault
say *context mismatch* instead of *tampered* for a blob opened in the wrong place (the
security is the associated data's); it reveals nothing the blob's location does not say.
Nonces are 96 random bits from ``os.urandom``; every key here seals far fewer than the 2^32
messages at which random nonces must stop (data keys seal one object; record keys are per
tenant and data class).
"""

from __future__ import annotations

import os
import struct
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.vault.errors import VaultContextMismatch, VaultTampered

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAGIC = b"\xfa\x01"
_HEADER = struct.Struct(">2sI4s")
HEADER_BYTES = _HEADER.size + NONCE_BYTES


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def context_aad(*parts: str | int) -> bytes:
    """Unambiguous associated data for the given parts (length-prefixed UTF-8)."""
    out = bytearray()
    for part in parts:
        raw = str(part).encode()
        out += struct.pack(">I", len(raw))
        out += raw
    return bytes(out)


def encrypt(aead: AESGCM, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """``nonce | ciphertext | tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def encrypt_parts(
    aead: AESGCM, plaintext: bytes | memoryview, aad: bytes
) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext | tag)``: :func:`encrypt` without joining them."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, aead.encrypt(nonce, plaintext, aad)


def decrypt(aead: AESGCM, blob: bytes | memoryview, aad: bytes, what: str) -> bytes:
    """Inverse of :func:`encrypt`; ``VaultTampered`` when authentication fails."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise VaultTampered(f"{what} is truncated", details={"what": what})
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise VaultTampered(
            f"{what} fails authentication: it was altered, damaged or sealed under another key",
            details={"what": what},
        ) from None


def record_context(tenant_id: str, data_class: str) -> bytes:
    """The part of a record's associated data shared by every record of a tenant and class
    (computed once per sealer)."""
    return context_aad(tenant_id, data_class)


def _object_context(prefix: bytes, object_id: str) -> bytes:
    raw = object_id.encode()
    return prefix + len(raw).to_bytes(4, "big") + raw


def seal_record(aead: AESGCM, generation: int, prefix: bytes, object_id: str, data: bytes) -> bytes:
    """Seal a small record under a record key of ``generation``; ``prefix`` is
    :func:`record_context` of its tenant and class. The header (with the generation and the
    context fingerprint) and the full context are the associated data."""
    ctx = _object_context(prefix, object_id)
    header = _HEADER.pack(MAGIC, generation, zlib.crc32(ctx).to_bytes(4, "big"))
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + aead.encrypt(nonce, data, header + ctx)


def record_generation(blob: bytes) -> int:
    """The key generation a sealed record names; ``VaultTampered`` if it is not one."""
    if len(blob) < HEADER_BYTES + TAG_BYTES or blob[:2] != MAGIC:
        raise VaultTampered("sealed record has no vault header", details={"what": "record"})
    return int(_HEADER.unpack_from(blob)[1])


def open_record(aead: AESGCM, prefix: bytes, data_class: str, object_id: str, blob: bytes) -> bytes:
    """Open a record sealed by :func:`seal_record` in exactly this context."""
    record_generation(blob)
    ctx = _object_context(prefix, object_id)
    header = blob[: _HEADER.size]
    if header[6:10] != zlib.crc32(ctx).to_bytes(4, "big"):
        raise VaultContextMismatch(
            f"sealed {data_class} record belongs to another tenant or object",
            details={"data_class": data_class},
        )
    return decrypt(aead, blob[_HEADER.size :], header + ctx, f"{data_class} record")

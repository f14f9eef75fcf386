"""AES-256-GCM primitives and the associated-data encoding every vault ciphertext uses.

A sealed record is ``MAGIC (2) | key generation (4) | context fingerprint (8) | nonce (12) |
ciphertext and tag``. The associated data binds the context (tenant, data class, object id,
key generation), so a blob moved to another tenant or object fails authentication. The
fingerprint (the first 8 bytes of SHA-256 of tenant, class and object id) lets the vault say
*context mismatch* instead of *tampered* for a blob opened in the wrong place; it reveals
nothing the location of the blob does not already say. Nonces are 96 random bits from
``os.urandom``; every key here seals far fewer than the 2^32 messages at which random nonces
must stop (data keys seal one object; record keys are per tenant and data class).
"""

from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fabric.vault.errors import VaultContextMismatch, VaultTampered

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAGIC = b"\xfa\x01"
_HEADER = struct.Struct(">2sI8s")
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


def fingerprint(tenant_id: str, data_class: str, object_id: str) -> bytes:
    """8 bytes naming a context, stored in a sealed record's header."""
    return hashlib.sha256(context_aad(tenant_id, data_class, object_id)).digest()[:8]


def encrypt(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce | ciphertext | tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def decrypt(aead: AESGCM, blob: bytes, aad: bytes, what: str) -> bytes:
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


def seal_record(
    aead: AESGCM, generation: int, tenant_id: str, data_class: str, object_id: str, data: bytes
) -> bytes:
    """Seal a small record under a record key of ``generation``."""
    header = _HEADER.pack(MAGIC, generation, fingerprint(tenant_id, data_class, object_id))
    aad = header + context_aad(tenant_id, data_class, object_id, generation)
    return header + encrypt(aead, data, aad)


def record_generation(blob: bytes) -> int:
    """The key generation a sealed record names; ``VaultTampered`` if it is not one."""
    if len(blob) < HEADER_BYTES + TAG_BYTES or blob[:2] != MAGIC:
        raise VaultTampered("sealed record has no vault header", details={"what": "record"})
    return int(_HEADER.unpack_from(blob)[1])


def open_record(
    aead: AESGCM, tenant_id: str, data_class: str, object_id: str, blob: bytes
) -> bytes:
    """Open a record sealed by :func:`seal_record` in exactly this context."""
    generation = record_generation(blob)
    header = blob[: _HEADER.size]
    if header[6:14] != fingerprint(tenant_id, data_class, object_id):
        raise VaultContextMismatch(
            f"sealed {data_class} record belongs to another tenant or object",
            details={"data_class": data_class},
        )
    aad = header + context_aad(tenant_id, data_class, object_id, generation)
    return decrypt(aead, blob[_HEADER.size :], aad, f"{data_class} record")

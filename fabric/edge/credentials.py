"""Bearer credentials: tenant API keys and the carrier's operator token.

A tenant API key reads ``fk_<tenant id>.<key id>.<secret>``: the tenant id and key id say
which TenantActor holds the key's record, the secret (32 random bytes, base64url) is
checked against the SHA-256 hash that actor keeps. A plain hash is enough because the
secret is random and long (no dictionary to attack), and it lets verification cost
one hash, not a key-stretching function per RPC. The key is shown once, at creation.

The operator token is made on first run and kept in a file of mode 0600 under ``.run/``;
it is compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from fabric.errors import Unauthenticated

KEY_PREFIX = "fk_"
_KEY_RE = re.compile(r"fk_([a-z0-9][a-z0-9-]{0,63})\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
OPERATOR_PREFIX = "fo_"


@dataclass(frozen=True, slots=True)
class ApiKeyParts:
    """A parsed tenant API key."""

    tenant_id: str
    key_id: str
    secret_hash: bytes


def hash_secret(secret: str) -> bytes:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).digest()


def new_api_key(tenant_id: str) -> tuple[str, str, bytes]:
    """A fresh key for a tenant: (key id, the full bearer key, hash of its secret)."""
    key_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return key_id, f"{KEY_PREFIX}{tenant_id}.{key_id}.{secret}", hash_secret(secret)


def parse_api_key(token: str) -> ApiKeyParts:
    """Split a bearer key; ``Unauthenticated`` when it is not one of ours."""
    match = _KEY_RE.fullmatch(token)
    if match is None:
        raise Unauthenticated(
            "send 'authorization: Bearer <api key>' with a key made by the fabric",
            error_id="bad-credentials",
        )
    return ApiKeyParts(match[1], match[2], hash_secret(match[3]))


def load_or_create_operator_token(path: Path) -> str:
    """Read the operator token, creating it (mode 0600) on first run."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = OPERATOR_PREFIX + secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    try:
        os.link(tmp, path)  # atomic: a racing process either wins or reads ours
    except FileExistsError:
        token = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return token


def is_operator_token(candidate: str, token: str) -> bool:
    """Constant-time comparison of a presented token with the operator token."""
    return hmac.compare_digest(candidate.encode(), token.encode())

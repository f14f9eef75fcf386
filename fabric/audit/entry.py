"""One audit entry and its hash.

Each writer process appends to its own *stream* of a log (a random id made at start-up),
numbering entries 1, 2, 3 ... and putting the previous entry's hash in each new one; the
entry's hash covers every field but itself (canonical JSON, SHA-256). Streams keep writers
on different gateways from needing a shared lock, and each stream is a complete chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from typing import Any

CARRIER_LOG = "carrier"
"""The carrier's own log (every admin action); tenants' logs are named by tenant id."""

GENESIS = "0" * 64
RETENTION_S = 7 * 365 * 86400 + 2 * 86400  # 7 years (leap days included)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to which object, when, from where, with which outcome."""

    log_id: str
    stream: str
    seq: int
    at_us: int  # microseconds since the epoch (UTC)
    principal: str  # user id, operator id, or "bootstrap" for the operator token
    role: str
    principal_tenant: str  # the caller's tenant ("" for carrier staff)
    key_id: str
    method: str  # full gRPC method name
    action: str  # read | change | delete | export | admin
    object_class: str
    object_id: str
    peer: str  # the caller's address
    outcome: str  # gRPC status code name (OK, PERMISSION_DENIED, ...)
    error_id: str
    prev_hash: str
    hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (plain values: no copying needed)."""
        return {name: getattr(self, name) for name in _FIELDS}

    def digest(self) -> str:
        """The SHA-256 (hex) over every field but ``hash``."""
        body = self.as_dict()
        del body["hash"]
        return digest_of(body)

    def sealed(self) -> AuditEntry:
        """This entry with its ``hash`` set."""
        return replace(self, hash=self.digest())

    def to_json(self) -> str:
        """The stored form (every field)."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuditEntry:
        """Parse the stored form."""
        return cls(**json.loads(text))


_FIELDS = tuple(f.name for f in fields(AuditEntry))


def digest_of(body: dict[str, Any]) -> str:
    """The hash of an entry given as a dict of every field but ``hash``."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def chained(entry: AuditEntry, stream: str, seq: int, at_us: int, prev_hash: str) -> AuditEntry:
    """``entry`` placed in a chain (stream, seq, time, previous hash) and sealed, built once
    (``dataclasses.replace`` on this class costs more than the hash)."""
    body = entry.as_dict()
    body.update(stream=stream, seq=seq, at_us=at_us, prev_hash=prev_hash)
    del body["hash"]
    return AuditEntry(**body, hash=digest_of(body))

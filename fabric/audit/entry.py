"""One audit entry and its hash.

Each writer process appends to its own *stream* of a log (a random id made at start-up),
numbering entries 1, 2, 3 ... and putting the previous entry's hash in each new one; the
entry's hash covers every field but itself (canonical JSON, SHA-256). Streams keep writers
on different gateways from needing a shared lock, and each stream is a complete chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

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

    def digest(self) -> str:
        """The SHA-256 (hex) over every field but ``hash``."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "hash"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def sealed(self) -> AuditEntry:
        """This entry with its ``hash`` set."""
        return _replace_hash(self, self.digest())

    def to_json(self) -> str:
        """The stored form (every field)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuditEntry:
        """Parse the stored form."""
        return cls(**json.loads(text))


def _replace_hash(entry: AuditEntry, value: str) -> AuditEntry:
    data = asdict(entry)
    data["hash"] = value
    return AuditEntry(**data)

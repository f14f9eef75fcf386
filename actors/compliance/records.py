"""A tenant's compliance record: signed documents (BAA, EU DPA), HIPAA mode and region.

Kept in the process's :class:`~fabric.storage.base.StateStore` under kind ``compliance``
and key = tenant id, so it lives on both backends, sealed at rest like actor state, with
the store's compare-and-set (two gateways recording at once: one retries). The carrier
records documents (``CarrierAdmin.RecordDocument``); the record is metadata about a
contract (who signed, when, where the signed copy is), never the document itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.base import StateStore

KIND = "compliance"
SAVE_ATTEMPTS = 5


class DocumentKind(StrEnum):
    """Which contract a document record is."""

    BAA = "baa"  # HIPAA Business Associate Agreement
    DPA = "dpa"  # GDPR Data Processing Addendum (EU tenants)


class Region(StrEnum):
    """Where a tenant's data lives."""

    US = "us"
    EU = "eu"


@dataclass(frozen=True, slots=True)
class Document:
    """A signed contract on file: signer, date (ISO yyyy-mm-dd), reference, who recorded it."""

    kind: DocumentKind
    signer: str
    signed_on: str
    reference: str
    recorded_by: str = ""


@dataclass(frozen=True, slots=True)
class TenantCompliance:
    """Everything compliance knows about one tenant."""

    tenant_id: str
    documents: tuple[Document, ...] = field(default_factory=tuple)
    hipaa_mode: bool = False
    region: Region = Region.US

    def document(self, kind: DocumentKind) -> Document | None:
        """The latest document of ``kind`` on file, or None."""
        found = [d for d in self.documents if d.kind == kind]
        return found[-1] if found else None

    @property
    def baa_on_file(self) -> bool:
        """Whether a signed BAA is recorded."""
        return self.document(DocumentKind.BAA) is not None

    def to_json(self) -> bytes:
        """The stored form."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, tenant_id: str, data: bytes) -> TenantCompliance:
        """Parse the stored form."""
        raw = json.loads(data)
        docs = tuple(
            Document(DocumentKind(d["kind"]), d["signer"], d["signed_on"], d["reference"],
                     d.get("recorded_by", ""))
            for d in raw.get("documents", ())
        )
        return cls(tenant_id, docs, bool(raw.get("hipaa_mode")), Region(raw.get("region", "us")))


def check_document(doc: Document) -> None:
    """INVALID_ARGUMENT ``invalid-document`` unless signer, date and reference are given."""
    import datetime as _dt

    if not doc.signer.strip() or not doc.reference.strip():
        raise InvalidArgument("a document needs the signer's name and a document reference",
                              error_id="invalid-document")
    try:
        _dt.date.fromisoformat(doc.signed_on)
    except ValueError:
        raise InvalidArgument(f"signed_on must be a date yyyy-mm-dd, not {doc.signed_on!r}",
                              error_id="invalid-document") from None


class ComplianceRecords:
    """Reads and changes tenants' compliance records in a state store."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def get(self, tenant_id: str) -> TenantCompliance:
        """The tenant's record (an empty one if nothing was recorded)."""
        stored = await self._store.load(KIND, tenant_id)
        if stored is None:
            return TenantCompliance(tenant_id)
        return TenantCompliance.from_json(tenant_id, stored.data)

    async def update(
        self, tenant_id: str, change: Callable[[TenantCompliance], TenantCompliance]
    ) -> TenantCompliance:
        """Apply ``change`` with compare-and-set (retried on a concurrent write)."""
        for attempt in range(SAVE_ATTEMPTS):
            stored = await self._store.load(KIND, tenant_id)
            current = (TenantCompliance(tenant_id) if stored is None
                       else TenantCompliance.from_json(tenant_id, stored.data))
            new = change(current)
            try:
                await self._store.save(KIND, tenant_id, new.to_json(),
                                       0 if stored is None else stored.version)
            except FailedPrecondition:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
                continue
            return new
        raise AssertionError("unreachable")

    async def record_document(self, tenant_id: str, doc: Document) -> TenantCompliance:
        """File a signed document for the tenant."""
        check_document(doc)
        return await self.update(
            tenant_id, lambda c: replace(c, documents=(*c.documents, doc)))

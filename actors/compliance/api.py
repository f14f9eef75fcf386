"""Compliance: the carrier records signed BAAs and DPAs; a tenant's admins read their record
and turn HIPAA mode on (Pro plan + BAA on file) or off."""

from __future__ import annotations

from dataclasses import replace

import grpc

from actors import validate
from actors.compliance.hipaa import check_hipaa_mode
from actors.compliance.records import ComplianceRecords, Document, DocumentKind, TenantCompliance
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.edge.auth import principal
from fabric.errors import InvalidArgument

_KINDS = {api_audit.DOCUMENT_KIND_BAA: DocumentKind.BAA,
          api_audit.DOCUMENT_KIND_DPA: DocumentKind.DPA}
_TO_PB = {v: k for k, v in _KINDS.items()}


def record_to_pb(record: TenantCompliance) -> api_audit.ComplianceRecord:
    """The API's form of a record."""
    return api_audit.ComplianceRecord(
        tenant_id=record.tenant_id, hipaa_mode=record.hipaa_mode, region=record.region.value,
        documents=[api_audit.ComplianceDocument(
            kind=_TO_PB[d.kind], signer=d.signer, signed_on=d.signed_on, reference=d.reference,
            recorded_by=d.recorded_by) for d in record.documents])


class ComplianceServicer(audit_pb2_grpc.ComplianceServicer):
    """RecordDocument, GetCompliance, SetHipaaMode."""

    def __init__(self, system: ActorSystem, records: ComplianceRecords) -> None:
        self.system = system
        self.records = records

    async def _tenant(self, tenant_id: str) -> api_carrier.Tenant:
        """The tenant (NOT_FOUND when there is none)."""
        validate.object_id(tenant_id, "tenant_id")
        return await self.system.ref(tenant_address(tenant_id)).ask(
            msg_tenant.GetTenant(), reply=api_carrier.Tenant)

    async def RecordDocument(  # noqa: N802
        self, request: api_audit.RecordDocumentRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.ComplianceRecord:
        """File a signed BAA or DPA for a tenant."""
        kind = _KINDS.get(request.document.kind)
        if kind is None:
            raise InvalidArgument("document.kind must be DOCUMENT_KIND_BAA or _DPA",
                                  error_id="invalid-document")
        await self._tenant(request.tenant_id)
        d = request.document
        doc = Document(kind, d.signer, d.signed_on, d.reference, principal().user_id)
        return record_to_pb(await self.records.record_document(request.tenant_id, doc))

    async def GetCompliance(  # noqa: N802
        self, request: api_audit.GetComplianceRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.ComplianceRecord:
        """The tenant's record (a tenant's caller: their own)."""
        tenant_id = principal().tenant_id or request.tenant_id
        await self._tenant(tenant_id)
        return record_to_pb(await self.records.get(tenant_id))

    async def SetHipaaMode(  # noqa: N802
        self, request: api_audit.SetHipaaModeRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.ComplianceRecord:
        """HIPAA mode on (Pro + BAA on file, else FAILED_PRECONDITION) or off."""
        tenant_id = principal().tenant_id
        tenant = await self._tenant(tenant_id)

        def change(current: TenantCompliance) -> TenantCompliance:
            if request.on:
                check_hipaa_mode(tenant.plan, current)
            return replace(current, hipaa_mode=request.on)

        return record_to_pb(await self.records.update(tenant_id, change))

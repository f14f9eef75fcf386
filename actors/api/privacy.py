"""Privacy: each RPC becomes a call of :class:`actors.privacy.service.PrivacyService`.

The tenant comes from the credential; only the operator names one (``tenant_id``, a closed
tenant's), and only on Export, ListRequests and GetRetention (the role table lets the
operator reach no other method). A tenant key that names a tenant is refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from actors.api.principals import caller
from actors.compliance.hipaa import require_retention_minimum
from actors.compliance.records import ComplianceRecords
from actors.messages.v1 import common_pb2 as msg_common
from actors.privacy.service import PrivacyService
from actors.privacy.sources import Sources
from fabric.actor import ActorSystem
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import privacy_pb2_grpc
from fabric.errors import Internal, InvalidArgument
from fabric.storage.factory import Stores


def _principal(tenant_id: str = "") -> msg_common.Principal:
    who = caller()
    if who.role == api_common.ROLE_OPERATOR:
        who.tenant_id = tenant_id
        who.user_id = "operator"
    elif tenant_id:
        raise InvalidArgument(
            "tenant_id is for the operator only; a tenant key acts on its own tenant",
            error_id="tenant-id-not-allowed", details={"field": "tenant_id"},
        )
    return who


class PrivacyServicer(privacy_pb2_grpc.PrivacyServicer):
    """Data-subject rights and retention (see ``protos/fabric/api/v1/privacy.proto``)."""

    def __init__(self, service: PrivacyService) -> None:
        self.service = service
        self.compliance: ComplianceRecords | None = None  # HIPAA retention minimum (issue 14)

    async def OpenRequest(  # noqa: N802
        self, request: api_privacy.OpenRequestRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.PrivacyRequest:
        """Log a request received elsewhere."""
        return await self.service.open_request(_principal(), request)

    async def WithdrawRequest(  # noqa: N802
        self, request: api_privacy.WithdrawRequestRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.PrivacyRequest:
        """Close an open request without an operation."""
        return await self.service.withdraw(_principal(), request)

    async def GetRequest(  # noqa: N802
        self, request: api_privacy.RequestRef, context: grpc.aio.ServicerContext
    ) -> api_privacy.PrivacyRequest:
        """One request."""
        return await self.service.get_request(_principal(), request.request_id)

    async def ListRequests(  # noqa: N802
        self, request: api_privacy.ListRequestsRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.ListRequestsResponse:
        """The tenant's requests."""
        return await self.service.list_requests(_principal(request.tenant_id), request.open_only)

    async def Export(  # noqa: N802
        self, request: api_privacy.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api_privacy.ExportEvent]:
        """Stream the export zip with progress events."""
        async for event in self.service.export(_principal(request.tenant_id), request):
            yield event

    async def Erase(  # noqa: N802
        self, request: api_privacy.EraseRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.EraseResponse:
        """Erase a subject's data or one object."""
        return await self.service.erase(_principal(), request)

    async def Correct(  # noqa: N802
        self, request: api_privacy.CorrectRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.CorrectResponse:
        """Correct account data."""
        return await self.service.correct(_principal(), request)

    async def SetRestriction(  # noqa: N802
        self, request: api_privacy.SetRestrictionRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.SetRestrictionResponse:
        """Restrict a subject or lift it."""
        return await self.service.set_restriction(_principal(), request)

    async def ListRestrictions(  # noqa: N802
        self, request: api_privacy.ListRestrictionsRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.ListRestrictionsResponse:
        """Every restriction."""
        return await self.service.list_restrictions(_principal())

    async def GetRetention(  # noqa: N802
        self, request: api_privacy.GetRetentionRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.RetentionPolicy:
        """The tenant's retention periods."""
        return await self.service.get_retention(_principal(request.tenant_id))

    async def SetRetention(  # noqa: N802
        self, request: api_privacy.SetRetentionRequest, context: grpc.aio.ServicerContext
    ) -> api_privacy.RetentionPolicy:
        """Shorten retention periods (in HIPAA mode, never under its minimum)."""
        if self.compliance is not None:  # issue 14: HIPAA retention minimum
            periods = {f.name: v for f, v in request.policy.ListFields()
                       if isinstance(v, int)}
            await require_retention_minimum(self.compliance, _principal().tenant_id, periods)
        return await self.service.set_retention(_principal(), request)


def privacy_servicer(system: ActorSystem, stores: Stores) -> PrivacyServicer:
    """The servicer over this gateway process's stores (CDRs, content, message records)."""
    if stores.content is None:
        raise Internal("the privacy service needs the content store", error_id="no-content-store")
    mdr = getattr(stores, "mdr", None)
    audit = getattr(stores, "audit", None)  # issue 14: the audit log is part of an export
    servicer = PrivacyServicer(PrivacyService(system, Sources(stores.cdr, stores.content, mdr,
                                                              audit)))
    state = getattr(stores, "state", None)
    servicer.compliance = ComplianceRecords(state) if state is not None else None
    return servicer

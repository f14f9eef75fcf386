"""CarrierAdmin: the operator creates, suspends and closes tenants and hands out numbers."""

from __future__ import annotations

import asyncio
import secrets

import grpc
from google.protobuf.message import Message

from actors import validate
from actors.compliance.records import Region
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import carrier_pb2_grpc
from fabric.edge.credentials import new_api_key
from fabric.errors import FabricError, FailedPrecondition, InvalidArgument
from fabric.storage.residency import TenantRegions

DEFAULT_TENANT_PAGE = 100
MAX_TENANT_PAGE = 500
DEFAULT_REGION = Region.US.value
REGIONS = ("", *(r.value for r in Region))


class CarrierServicer(carrier_pb2_grpc.CarrierAdminServicer):
    """Tenants and the number pool, for the carrier's operator."""

    def __init__(self, system: ActorSystem, regions: TenantRegions | None = None) -> None:
        self.system = system
        self.regions = regions  # residency: CreateTenant records the region first

    async def _tenant(self, tenant_id: str, message: Message) -> api_carrier.Tenant:
        validate.object_id(tenant_id, "tenant_id")
        return await self.system.ref(tenant_address(tenant_id)).ask(
            message, reply=api_carrier.Tenant
        )

    async def CreateTenant(  # noqa: N802
        self, request: api_carrier.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> api_carrier.CreateTenantResponse:
        """Create a tenant with its first owner; the owner's key is shown once."""
        validate.name(request.name, "name")
        owner_name = request.owner_name or "Owner"
        validate.name(owner_name, "owner_name")
        if request.plan not in (
            api_carrier.PLAN_UNSPECIFIED,
            api_carrier.PLAN_STANDARD,
            api_carrier.PLAN_PRO,
        ):
            raise InvalidArgument("plan must be PLAN_STANDARD or PLAN_PRO", error_id="invalid-plan")
        if request.region not in REGIONS:
            raise InvalidArgument(
                "region must be \"us\" (the default) or \"eu\"", error_id="invalid-region",
                details={"field": "region"})
        tenant_id = f"t-{secrets.token_hex(6)}"
        owner_id = f"u-{secrets.token_hex(6)}"
        key_id, key, digest = new_api_key(tenant_id)
        if self.regions is not None:  # before the tenant's first actor claims its state
            await self.regions.assign(tenant_id, request.region or DEFAULT_REGION)
        tenant = await self._tenant(
            tenant_id,
            msg_tenant.CreateTenant(
                tenant_id=tenant_id,
                name=request.name,
                plan=request.plan or api_carrier.PLAN_STANDARD,
                owner_name=owner_name,
                owner_user_id=owner_id,
                owner_key_id=key_id,
                owner_secret_hash=digest,
                region=request.region or DEFAULT_REGION,
            ),
        )
        await self.system.ref(DIRECTORY).ask(msg_numbers.IndexTenant(tenant_id=tenant_id))
        return api_carrier.CreateTenantResponse(
            tenant=tenant, owner_user_id=owner_id, owner_api_key=key
        )

    async def ListTenants(  # noqa: N802
        self, request: api_carrier.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> api_carrier.ListTenantsResponse:
        """A page of tenants, oldest first (the page token is the next position)."""
        size = request.page_size or DEFAULT_TENANT_PAGE
        if size > MAX_TENANT_PAGE:
            raise InvalidArgument(
                f"page_size must be 0 to {MAX_TENANT_PAGE}", error_id="invalid-page"
            )
        token = request.page_token
        if token and not (token.isdigit() and len(token) <= 9):
            raise InvalidArgument(
                "page_token must be a next_page_token from ListTenants", error_id="invalid-page"
            )
        offset = int(token or 0)
        page = await self.system.ref(DIRECTORY).ask(
            msg_numbers.ListTenantIds(offset=offset, limit=size), reply=msg_numbers.TenantIds
        )
        tenants = await asyncio.gather(
            *(self._tenant(t, msg_tenant.GetTenant()) for t in page.tenant_ids)
        )
        end = offset + len(page.tenant_ids)
        return api_carrier.ListTenantsResponse(
            tenants=tenants, next_page_token=str(end) if end < page.total else ""
        )

    async def GetTenant(  # noqa: N802
        self, request: api_carrier.TenantRef, context: grpc.aio.ServicerContext
    ) -> api_carrier.Tenant:
        """One tenant."""
        return await self._tenant(request.tenant_id, msg_tenant.GetTenant())

    async def SuspendTenant(  # noqa: N802
        self, request: api_carrier.TenantRef, context: grpc.aio.ServicerContext
    ) -> api_carrier.Tenant:
        """Suspend: keys stop working, numbers stop ringing, configuration is kept."""
        return await self._tenant(
            request.tenant_id,
            msg_tenant.SetTenantStatus(status=api_carrier.TENANT_STATUS_SUSPENDED),
        )

    async def ResumeTenant(  # noqa: N802
        self, request: api_carrier.TenantRef, context: grpc.aio.ServicerContext
    ) -> api_carrier.Tenant:
        """Undo a suspension."""
        return await self._tenant(
            request.tenant_id, msg_tenant.SetTenantStatus(status=api_carrier.TENANT_STATUS_ACTIVE)
        )

    async def CloseTenant(  # noqa: N802
        self, request: api_carrier.TenantRef, context: grpc.aio.ServicerContext
    ) -> api_carrier.Tenant:
        """Close for good: keys are deleted and numbers return to the pool."""
        tenant = await self._tenant(
            request.tenant_id, msg_tenant.SetTenantStatus(status=api_carrier.TENANT_STATUS_CLOSED)
        )
        await self.system.ref(DIRECTORY).ask(
            msg_numbers.ReleaseTenantNumbers(tenant_id=request.tenant_id)
        )
        return tenant

    async def SetPlan(  # noqa: N802
        self, request: api_carrier.SetPlanRequest, context: grpc.aio.ServicerContext
    ) -> api_carrier.Tenant:
        """Standard or Pro (checked by the TenantActor)."""
        return await self._tenant(request.tenant_id, msg_tenant.SetTenantPlan(plan=request.plan))

    async def AllocateNumbers(  # noqa: N802
        self, request: api_carrier.AllocateNumbersRequest, context: grpc.aio.ServicerContext
    ) -> api_carrier.AllocateNumbersResponse:
        """Give pool numbers to an active tenant (a count, or exact numbers; the number
        directory checks the request)."""
        tenant = await self._tenant(request.tenant_id, msg_tenant.GetTenant())
        if tenant.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        got = await self.system.ref(DIRECTORY).ask(
            msg_numbers.AllocateNumbers(
                tenant_id=request.tenant_id, count=request.count, numbers=request.numbers
            ),
            reply=msg_numbers.AllocatedNumbers,
        )
        try:
            await self._tenant(request.tenant_id, msg_tenant.AddNumbers(numbers=got.numbers))
        except FabricError:
            for number in got.numbers:  # undo: never leave numbers held but unroutable
                await self.system.ref(DIRECTORY).ask(
                    msg_numbers.ReleaseNumber(tenant_id=request.tenant_id, number=number)
                )
            raise
        return api_carrier.AllocateNumbersResponse(numbers=got.numbers)

    async def ReleaseNumber(  # noqa: N802
        self, request: api_carrier.ReleaseNumberRequest, context: grpc.aio.ServicerContext
    ) -> api_carrier.ReleaseNumberResponse:
        """Return a tenant's number to the pool."""
        validate.object_id(request.tenant_id, "tenant_id")
        validate.e164(request.number)
        await self.system.ref(DIRECTORY).ask(
            msg_numbers.ReleaseNumber(tenant_id=request.tenant_id, number=request.number)
        )
        await self._tenant(request.tenant_id, msg_tenant.RemoveNumber(number=request.number))
        return api_carrier.ReleaseNumberResponse()

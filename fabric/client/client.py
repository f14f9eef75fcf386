"""``FabricClient``: one channel (TLS by default), one credential, typed methods.

Every method returns the response message and raises a :class:`fabric.errors.FabricError`
subclass on failure, with the server's ``error_id`` (so callers branch on
``exc.error_id == "no-carrier-trunk"``, never on message text).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self, TypeVar

import grpc

from fabric.api.v1 import calls_pb2 as calls
from fabric.api.v1 import calls_pb2_grpc, carrier_pb2_grpc, records_pb2_grpc, tenant_pb2_grpc
from fabric.api.v1 import carrier_pb2 as carrier
from fabric.api.v1 import common_pb2 as common
from fabric.api.v1 import records_pb2 as records
from fabric.api.v1 import tenant_pb2 as tenant
from fabric.edge.status import error_from_status

R = TypeVar("R")

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def make_channel(target: str, ca_file: Path | None) -> grpc.aio.Channel:
    """A TLS channel trusting ``ca_file`` (the fabric's CA), or plaintext when None."""
    if ca_file is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    creds = grpc.ssl_channel_credentials(root_certificates=ca_file.read_bytes())
    return grpc.aio.secure_channel(target, creds, options=CHANNEL_OPTIONS)


class FabricClient:
    """The fabric's API for one credential (operator token or tenant API key)."""

    def __init__(
        self,
        target: str,
        token: str,
        *,
        ca_file: Path | None = None,
        timeout_s: float = 10.0,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.channel = channel if channel is not None else make_channel(target, ca_file)
        self._owns_channel = channel is None
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.timeout_s = timeout_s
        self.carrier = carrier_pb2_grpc.CarrierAdminStub(self.channel)
        self.admin = tenant_pb2_grpc.TenantAdminStub(self.channel)
        self.calls = calls_pb2_grpc.CallsStub(self.channel)
        self.records = records_pb2_grpc.RecordsStub(self.channel)

    def with_token(self, token: str) -> FabricClient:
        """Another client on the same channel, with another credential."""
        return FabricClient("", token, timeout_s=self.timeout_s, channel=self.channel)

    async def close(self) -> None:
        """Close the channel (if this client made it)."""
        if self._owns_channel:
            await self.channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, method: Callable[..., Awaitable[R]], request: Any) -> R:
        """Invoke a unary stub method with this client's credential; map errors."""
        try:
            return await method(request, metadata=self.metadata, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise error_from_status(exc.code(), exc.details()) from None

    # ---- carrier ----------------------------------------------------------------------

    async def create_tenant(
        self, name: str, owner_name: str = "Owner", plan: int = carrier.PLAN_STANDARD
    ) -> carrier.CreateTenantResponse:
        """Create a tenant; the response holds the owner's API key (shown once)."""
        return await self.call(
            self.carrier.CreateTenant,
            carrier.CreateTenantRequest(name=name, owner_name=owner_name, plan=plan),  # type: ignore[arg-type]
        )

    async def get_tenant(self, tenant_id: str) -> carrier.Tenant:
        """One tenant."""
        return await self.call(self.carrier.GetTenant, carrier.TenantRef(tenant_id=tenant_id))

    async def suspend_tenant(self, tenant_id: str) -> carrier.Tenant:
        """Suspend a tenant."""
        return await self.call(self.carrier.SuspendTenant, carrier.TenantRef(tenant_id=tenant_id))

    async def resume_tenant(self, tenant_id: str) -> carrier.Tenant:
        """Resume a suspended tenant."""
        return await self.call(self.carrier.ResumeTenant, carrier.TenantRef(tenant_id=tenant_id))

    async def close_tenant(self, tenant_id: str) -> carrier.Tenant:
        """Close a tenant for good."""
        return await self.call(self.carrier.CloseTenant, carrier.TenantRef(tenant_id=tenant_id))

    async def set_plan(self, tenant_id: str, plan: int) -> carrier.Tenant:
        """Standard or Pro."""
        return await self.call(
            self.carrier.SetPlan,
            carrier.SetPlanRequest(tenant_id=tenant_id, plan=plan),  # type: ignore[arg-type]
        )

    async def allocate_numbers(
        self, tenant_id: str, count: int = 0, numbers: list[str] | None = None
    ) -> list[str]:
        """Give pool numbers to a tenant."""
        reply = await self.call(
            self.carrier.AllocateNumbers,
            carrier.AllocateNumbersRequest(tenant_id=tenant_id, count=count, numbers=numbers or []),
        )
        return list(reply.numbers)

    async def release_number(self, tenant_id: str, number: str) -> None:
        """Return a number to the pool."""
        await self.call(
            self.carrier.ReleaseNumber,
            carrier.ReleaseNumberRequest(tenant_id=tenant_id, number=number),
        )

    # ---- tenant administration --------------------------------------------------------

    async def create_user(self, name: str, role: int = common.ROLE_MEMBER) -> tenant.User:
        """Add a user."""
        return await self.call(
            self.admin.CreateUser,
            tenant.CreateUserRequest(name=name, role=role),  # type: ignore[arg-type]
        )

    async def put_extension(
        self,
        extension: str,
        user_id: str,
        *,
        ring_timeout_s: int = 0,
        voicemail: bool = False,
        recording: bool = False,
        forwarding: tenant.ForwardingRule | None = None,
    ) -> tenant.Extension:
        """Create or replace an extension."""
        ext = tenant.Extension(
            extension=extension,
            user_id=user_id,
            ring_timeout_s=ring_timeout_s,
            voicemail=voicemail,
            recording=recording,
        )
        if forwarding is not None:
            ext.forwarding.CopyFrom(forwarding)
        return await self.call(self.admin.PutExtension, tenant.PutExtensionRequest(extension=ext))

    async def put_ring_group(
        self,
        group_id: str,
        extensions: list[str],
        strategy: int = tenant.RING_ALL_AT_ONCE,
        ring_timeout_s: int = 0,
    ) -> tenant.RingGroup:
        """Create or replace a ring group."""
        group = tenant.RingGroup(
            group_id=group_id,
            extensions=extensions,
            strategy=strategy,  # type: ignore[arg-type]
            ring_timeout_s=ring_timeout_s,
        )
        return await self.call(self.admin.PutRingGroup, tenant.PutRingGroupRequest(group=group))

    async def route_number(
        self, number: str, *, extension: str = "", ring_group: str = ""
    ) -> tenant.NumberRoute:
        """Route a number to an extension or a ring group."""
        route = tenant.NumberRoute(number=number)
        if extension:
            route.extension = extension
        if ring_group:
            route.ring_group = ring_group
        return await self.call(self.admin.RouteNumber, tenant.RouteNumberRequest(route=route))

    async def set_business_hours(self, hours: tenant.BusinessHours) -> tenant.BusinessHours:
        """Opening hours and the after-hours destination."""
        return await self.call(
            self.admin.SetBusinessHours, tenant.SetBusinessHoursRequest(hours=hours)
        )

    async def create_api_key(self, user_id: str) -> tenant.CreateApiKeyResponse:
        """A key for a user (the secret is in the response, once)."""
        return await self.call(self.admin.CreateApiKey, tenant.CreateApiKeyRequest(user_id=user_id))

    async def get_config(self) -> tenant.TenantConfig:
        """The caller's tenant configuration."""
        return await self.call(self.admin.GetConfig, tenant.TenantConfigRequest())

    # ---- calls ------------------------------------------------------------------------

    async def dial(
        self,
        from_extension: str,
        *,
        extension: str = "",
        number: str = "",
        media: common.MediaOffer | None = None,
    ) -> calls.CallInfo:
        """Place a call to an extension or a number."""
        to = (
            common.Destination(extension=extension)
            if extension
            else common.Destination(number=number)
        )
        req = calls.DialRequest(from_extension=from_extension, to=to)
        if media is not None:
            req.media.CopyFrom(media)
        return await self.call(self.calls.Dial, req)

    async def answer(
        self, call_id: str, extension: str, media: common.MediaOffer | None = None
    ) -> calls.CallInfo:
        """Answer a ringing call on one of your extensions."""
        req = calls.AnswerRequest(call_id=call_id, extension=extension)
        if media is not None:
            req.media.CopyFrom(media)
        return await self.call(self.calls.Answer, req)

    async def reject(self, call_id: str, extension: str) -> calls.CallInfo:
        """Reject a ringing call."""
        return await self.call(
            self.calls.Reject, calls.RejectRequest(call_id=call_id, extension=extension)
        )

    async def hangup(self, call_id: str) -> calls.CallInfo:
        """Hang up (or cancel while ringing)."""
        return await self.call(self.calls.Hangup, calls.CallRef(call_id=call_id))

    async def hold(self, call_id: str) -> calls.CallInfo:
        """Hold an answered call."""
        return await self.call(self.calls.Hold, calls.CallRef(call_id=call_id))

    async def resume(self, call_id: str) -> calls.CallInfo:
        """Resume a held call."""
        return await self.call(self.calls.Resume, calls.CallRef(call_id=call_id))

    async def transfer(
        self, call_id: str, *, extension: str = "", number: str = ""
    ) -> calls.CallInfo:
        """Blind-transfer the call to an extension or a number."""
        to = (
            common.Destination(extension=extension)
            if extension
            else common.Destination(number=number)
        )
        return await self.call(self.calls.Transfer, calls.TransferRequest(call_id=call_id, to=to))

    async def get_call(self, call_id: str) -> calls.CallInfo:
        """A call's current state."""
        return await self.call(self.calls.GetCall, calls.CallRef(call_id=call_id))

    async def active_calls(self) -> list[calls.CallInfo]:
        """The tenant's active calls."""
        reply = await self.call(self.calls.ListActiveCalls, calls.ListActiveCallsRequest())
        return list(reply.calls)

    # ---- records ----------------------------------------------------------------------

    async def query_cdrs(
        self,
        start_ms: int = 0,
        end_ms: int = 0,
        *,
        number: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> records.QueryCdrsResponse:
        """One page of CDRs."""
        return await self.call(
            self.records.QueryCdrs,
            records.QueryCdrsRequest(
                start_ms=start_ms,
                end_ms=end_ms,
                number=number,
                page_size=page_size,
                page_token=page_token,
            ),
        )

    async def get_cdr(self, call_id: str) -> records.CdrRecord:
        """One CDR."""
        return await self.call(self.records.GetCdr, records.GetCdrRequest(call_id=call_id))

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

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import calls_pb2_grpc, carrier_pb2_grpc, records_pb2_grpc, tenant_pb2_grpc
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.edge.status import error_from_rpc

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
            raise error_from_rpc(exc.code(), exc.details(), exc.trailing_metadata()) from None

    # ---- carrier ----------------------------------------------------------------------

    async def create_tenant(
        self, name: str, owner_name: str = "Owner", plan: int = api_carrier.PLAN_STANDARD,
        region: str = "",
    ) -> api_carrier.CreateTenantResponse:
        """Create a tenant (``region`` "" = "us", or "eu"); the response holds the owner's
        API key (shown once)."""
        return await self.call(
            self.carrier.CreateTenant,
            api_carrier.CreateTenantRequest(name=name, owner_name=owner_name, plan=plan,  # type: ignore[arg-type]
                                            region=region),
        )

    async def get_tenant(self, tenant_id: str) -> api_carrier.Tenant:
        """One tenant."""
        return await self.call(self.carrier.GetTenant, api_carrier.TenantRef(tenant_id=tenant_id))

    async def suspend_tenant(self, tenant_id: str) -> api_carrier.Tenant:
        """Suspend a tenant."""
        return await self.call(
            self.carrier.SuspendTenant, api_carrier.TenantRef(tenant_id=tenant_id)
        )

    async def resume_tenant(self, tenant_id: str) -> api_carrier.Tenant:
        """Resume a suspended tenant."""
        return await self.call(
            self.carrier.ResumeTenant, api_carrier.TenantRef(tenant_id=tenant_id)
        )

    async def close_tenant(self, tenant_id: str) -> api_carrier.Tenant:
        """Close a tenant for good."""
        return await self.call(self.carrier.CloseTenant, api_carrier.TenantRef(tenant_id=tenant_id))

    async def list_tenants(self) -> list[api_carrier.Tenant]:
        """Every tenant (every page), oldest first."""
        tenants: list[api_carrier.Tenant] = []
        token = ""
        while True:
            reply = await self.call(
                self.carrier.ListTenants, api_carrier.ListTenantsRequest(page_token=token)
            )
            tenants.extend(reply.tenants)
            token = reply.next_page_token
            if not token:
                return tenants

    async def set_plan(self, tenant_id: str, plan: int) -> api_carrier.Tenant:
        """Standard or Pro."""
        return await self.call(
            self.carrier.SetPlan,
            api_carrier.SetPlanRequest(tenant_id=tenant_id, plan=plan),  # type: ignore[arg-type]
        )

    async def allocate_numbers(
        self, tenant_id: str, count: int = 0, numbers: list[str] | None = None
    ) -> list[str]:
        """Give pool numbers to a tenant."""
        reply = await self.call(
            self.carrier.AllocateNumbers,
            api_carrier.AllocateNumbersRequest(
                tenant_id=tenant_id, count=count, numbers=numbers or []
            ),
        )
        return list(reply.numbers)

    async def release_number(self, tenant_id: str, number: str) -> None:
        """Return a number to the pool."""
        await self.call(
            self.carrier.ReleaseNumber,
            api_carrier.ReleaseNumberRequest(tenant_id=tenant_id, number=number),
        )

    # ---- tenant administration --------------------------------------------------------

    async def create_user(self, name: str, role: int = api_common.ROLE_MEMBER) -> api_tenant.User:
        """Add a user."""
        return await self.call(
            self.admin.CreateUser,
            api_tenant.CreateUserRequest(name=name, role=role),  # type: ignore[arg-type]
        )

    async def put_extension(
        self,
        extension: str,
        user_id: str,
        *,
        ring_timeout_s: int = 0,
        voicemail: bool = False,
        recording: bool = False,
        forwarding: api_tenant.ForwardingRule | None = None,
    ) -> api_tenant.Extension:
        """Create or replace an extension."""
        ext = api_tenant.Extension(
            extension=extension,
            user_id=user_id,
            ring_timeout_s=ring_timeout_s,
            voicemail=voicemail,
            recording=recording,
        )
        if forwarding is not None:
            ext.forwarding.CopyFrom(forwarding)
        return await self.call(
            self.admin.PutExtension, api_tenant.PutExtensionRequest(extension=ext)
        )

    async def put_extension_message(self, extension: api_tenant.Extension) -> api_tenant.Extension:
        """Create or replace an extension given as a whole message."""
        return await self.call(
            self.admin.PutExtension, api_tenant.PutExtensionRequest(extension=extension)
        )

    async def delete_user(self, user_id: str) -> None:
        """Remove a user (and their keys); refused while they have extensions."""
        await self.call(self.admin.DeleteUser, api_tenant.UserRef(user_id=user_id))

    async def list_users(self) -> list[api_tenant.User]:
        """Every user."""
        reply = await self.call(self.admin.ListUsers, api_tenant.ListUsersRequest())
        return list(reply.users)

    async def delete_extension(self, extension: str) -> None:
        """Remove an extension nothing refers to."""
        await self.call(self.admin.DeleteExtension, api_tenant.ExtensionRef(extension=extension))

    async def list_extensions(self) -> list[api_tenant.Extension]:
        """Every extension."""
        reply = await self.call(self.admin.ListExtensions, api_tenant.ListExtensionsRequest())
        return list(reply.extensions)

    async def delete_ring_group(self, group_id: str) -> None:
        """Remove a ring group nothing refers to."""
        await self.call(self.admin.DeleteRingGroup, api_tenant.RingGroupRef(group_id=group_id))

    async def list_ring_groups(self) -> list[api_tenant.RingGroup]:
        """Every ring group."""
        reply = await self.call(self.admin.ListRingGroups, api_tenant.ListRingGroupsRequest())
        return list(reply.groups)

    async def list_numbers(self) -> list[api_tenant.NumberRoute]:
        """The tenant's numbers and where each rings."""
        reply = await self.call(self.admin.ListNumbers, api_tenant.ListNumbersRequest())
        return list(reply.routes)

    async def list_api_keys(self) -> list[api_tenant.ApiKey]:
        """Every API key of the tenant (never the secrets)."""
        reply = await self.call(self.admin.ListApiKeys, api_tenant.ListApiKeysRequest())
        return list(reply.keys)

    async def revoke_api_key(self, key_id: str) -> None:
        """Delete an API key: it stops working at once."""
        await self.call(self.admin.RevokeApiKey, api_tenant.ApiKeyRef(key_id=key_id))

    async def put_ring_group(
        self,
        group_id: str,
        extensions: list[str],
        strategy: int = api_tenant.RING_ALL_AT_ONCE,
        ring_timeout_s: int = 0,
        voicemail_extension: str = "",
    ) -> api_tenant.RingGroup:
        """Create or replace a ring group (``voicemail_extension``: its shared mailbox)."""
        group = api_tenant.RingGroup(
            group_id=group_id,
            extensions=extensions,
            strategy=strategy,  # type: ignore[arg-type]
            ring_timeout_s=ring_timeout_s,
            voicemail_extension=voicemail_extension,
        )
        return await self.call(self.admin.PutRingGroup, api_tenant.PutRingGroupRequest(group=group))

    async def route_number(
        self, number: str, *, extension: str = "", ring_group: str = ""
    ) -> api_tenant.NumberRoute:
        """Route a number to an extension or a ring group."""
        route = api_tenant.NumberRoute(number=number)
        if extension:
            route.extension = extension
        if ring_group:
            route.ring_group = ring_group
        return await self.call(self.admin.RouteNumber, api_tenant.RouteNumberRequest(route=route))

    async def set_business_hours(self, hours: api_tenant.BusinessHours) -> api_tenant.BusinessHours:
        """Opening hours and the after-hours destination."""
        return await self.call(
            self.admin.SetBusinessHours, api_tenant.SetBusinessHoursRequest(hours=hours)
        )

    async def create_api_key(self, user_id: str) -> api_tenant.CreateApiKeyResponse:
        """A key for a user (the secret is in the response, once)."""
        return await self.call(
            self.admin.CreateApiKey, api_tenant.CreateApiKeyRequest(user_id=user_id)
        )

    async def get_config(self) -> api_tenant.TenantConfig:
        """The caller's tenant configuration."""
        return await self.call(self.admin.GetConfig, api_tenant.TenantConfigRequest())

    # ---- calls ------------------------------------------------------------------------

    async def dial(
        self,
        from_extension: str,
        *,
        extension: str = "",
        number: str = "",
        media: api_common.MediaOffer | None = None,
    ) -> api_calls.CallInfo:
        """Place a call to an extension or a number."""
        to = (
            api_common.Destination(extension=extension)
            if extension
            else api_common.Destination(number=number)
        )
        req = api_calls.DialRequest(from_extension=from_extension, to=to)
        if media is not None:
            req.media.CopyFrom(media)
        return await self.call(self.calls.Dial, req)

    async def answer(
        self, call_id: str, extension: str, media: api_common.MediaOffer | None = None
    ) -> api_calls.CallInfo:
        """Answer a ringing call on one of your extensions."""
        req = api_calls.AnswerRequest(call_id=call_id, extension=extension)
        if media is not None:
            req.media.CopyFrom(media)
        return await self.call(self.calls.Answer, req)

    async def reject(self, call_id: str, extension: str) -> api_calls.CallInfo:
        """Reject a ringing call."""
        return await self.call(
            self.calls.Reject, api_calls.RejectRequest(call_id=call_id, extension=extension)
        )

    async def hangup(self, call_id: str) -> api_calls.CallInfo:
        """Hang up (or cancel while ringing)."""
        return await self.call(self.calls.Hangup, api_calls.CallRef(call_id=call_id))

    async def hold(self, call_id: str) -> api_calls.CallInfo:
        """Hold an answered call."""
        return await self.call(self.calls.Hold, api_calls.CallRef(call_id=call_id))

    async def resume(self, call_id: str) -> api_calls.CallInfo:
        """Resume a held call."""
        return await self.call(self.calls.Resume, api_calls.CallRef(call_id=call_id))

    async def transfer(
        self, call_id: str, *, extension: str = "", number: str = ""
    ) -> api_calls.CallInfo:
        """Blind-transfer the call to an extension or a number."""
        to = (
            api_common.Destination(extension=extension)
            if extension
            else api_common.Destination(number=number)
        )
        return await self.call(
            self.calls.Transfer, api_calls.TransferRequest(call_id=call_id, to=to)
        )

    async def get_call(self, call_id: str) -> api_calls.CallInfo:
        """A call's current state."""
        return await self.call(self.calls.GetCall, api_calls.CallRef(call_id=call_id))

    async def active_calls(self) -> list[api_calls.CallInfo]:
        """The tenant's active calls."""
        reply = await self.call(self.calls.ListActiveCalls, api_calls.ListActiveCallsRequest())
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
    ) -> api_records.QueryCdrsResponse:
        """One page of CDRs."""
        return await self.call(
            self.records.QueryCdrs,
            api_records.QueryCdrsRequest(
                start_ms=start_ms,
                end_ms=end_ms,
                number=number,
                page_size=page_size,
                page_token=page_token,
            ),
        )

    async def get_cdr(self, call_id: str) -> api_records.CdrRecord:
        """One CDR."""
        return await self.call(self.records.GetCdr, api_records.GetCdrRequest(call_id=call_id))

"""TenantAdmin: each RPC becomes an ``AdminOp`` for the caller's own TenantActor.

The tenant comes from the credential, never from the request, so a tenant can only ever
address its own configuration.
"""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message

from actors.api.principals import caller
from actors.messages.v1 import tenant_pb2 as tpb
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import tenant_pb2 as api
from fabric.api.v1 import tenant_pb2_grpc

R = TypeVar("R", bound=Message)


class TenantAdminServicer(tenant_pb2_grpc.TenantAdminServicer):
    """Users, extensions, ring groups, number routes, business hours and API keys."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    async def _op(self, field: str, request: Message, reply_type: type[R]) -> R:
        who = caller()
        op = tpb.AdminOp(principal=who)
        getattr(op, field).CopyFrom(request)
        reply = await self.system.ref(tenant_address(who.tenant_id)).ask(op)
        assert isinstance(reply, reply_type)
        return reply

    async def GetConfig(  # noqa: N802
        self, request: api.TenantConfigRequest, context: grpc.aio.ServicerContext
    ) -> api.TenantConfig:
        """The whole configuration of the caller's tenant."""
        return await self._op("get_config", request, api.TenantConfig)

    async def CreateUser(  # noqa: N802
        self, request: api.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> api.User:
        """Add a user (owner, admin or member)."""
        return await self._op("create_user", request, api.User)

    async def DeleteUser(  # noqa: N802
        self, request: api.UserRef, context: grpc.aio.ServicerContext
    ) -> api.Empty:
        """Remove a user and their keys."""
        return await self._op("delete_user", request, api.Empty)

    async def ListUsers(  # noqa: N802
        self, request: api.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> api.ListUsersResponse:
        """Every user."""
        return await self._op("list_users", request, api.ListUsersResponse)

    async def PutExtension(  # noqa: N802
        self, request: api.PutExtensionRequest, context: grpc.aio.ServicerContext
    ) -> api.Extension:
        """Create or replace an extension."""
        return await self._op("put_extension", request, api.Extension)

    async def DeleteExtension(  # noqa: N802
        self, request: api.ExtensionRef, context: grpc.aio.ServicerContext
    ) -> api.Empty:
        """Remove an unused extension."""
        return await self._op("delete_extension", request, api.Empty)

    async def ListExtensions(  # noqa: N802
        self, request: api.ListExtensionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListExtensionsResponse:
        """Every extension."""
        return await self._op("list_extensions", request, api.ListExtensionsResponse)

    async def PutRingGroup(  # noqa: N802
        self, request: api.PutRingGroupRequest, context: grpc.aio.ServicerContext
    ) -> api.RingGroup:
        """Create or replace a ring group."""
        return await self._op("put_ring_group", request, api.RingGroup)

    async def DeleteRingGroup(  # noqa: N802
        self, request: api.RingGroupRef, context: grpc.aio.ServicerContext
    ) -> api.Empty:
        """Remove an unused ring group."""
        return await self._op("delete_ring_group", request, api.Empty)

    async def ListRingGroups(  # noqa: N802
        self, request: api.ListRingGroupsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListRingGroupsResponse:
        """Every ring group."""
        return await self._op("list_ring_groups", request, api.ListRingGroupsResponse)

    async def RouteNumber(  # noqa: N802
        self, request: api.RouteNumberRequest, context: grpc.aio.ServicerContext
    ) -> api.NumberRoute:
        """Route one of the tenant's numbers."""
        return await self._op("route_number", request, api.NumberRoute)

    async def ListNumbers(  # noqa: N802
        self, request: api.ListNumbersRequest, context: grpc.aio.ServicerContext
    ) -> api.ListNumbersResponse:
        """The tenant's numbers and their routes."""
        return await self._op("list_numbers", request, api.ListNumbersResponse)

    async def SetBusinessHours(  # noqa: N802
        self, request: api.SetBusinessHoursRequest, context: grpc.aio.ServicerContext
    ) -> api.BusinessHours:
        """Opening hours and the after-hours target."""
        return await self._op("set_business_hours", request, api.BusinessHours)

    async def CreateApiKey(  # noqa: N802
        self, request: api.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateApiKeyResponse:
        """A key for a user; its secret is shown once."""
        return await self._op("create_api_key", request, api.CreateApiKeyResponse)

    async def RevokeApiKey(  # noqa: N802
        self, request: api.ApiKeyRef, context: grpc.aio.ServicerContext
    ) -> api.Empty:
        """Delete a key."""
        return await self._op("revoke_api_key", request, api.Empty)

    async def ListApiKeys(  # noqa: N802
        self, request: api.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> api.ListApiKeysResponse:
        """Every key (never the secrets)."""
        return await self._op("list_api_keys", request, api.ListApiKeysResponse)

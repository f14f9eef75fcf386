"""TenantAdmin: each RPC becomes an ``AdminOp`` for the caller's own TenantActor.

The tenant comes from the credential, never from the request, so a tenant can only ever
address its own configuration.
"""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf.message import Message

from actors.api.principals import caller
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import tenant_pb2_grpc

R = TypeVar("R", bound=Message)


class TenantAdminServicer(tenant_pb2_grpc.TenantAdminServicer):
    """Users, extensions, ring groups, number routes, business hours and API keys."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    async def _op(self, field: str, request: Message, reply_type: type[R]) -> R:
        who = caller()
        op = msg_tenant.AdminOp(principal=who)
        getattr(op, field).CopyFrom(request)
        return await self.system.ref(tenant_address(who.tenant_id)).ask(op, reply=reply_type)

    async def GetConfig(  # noqa: N802
        self, request: api_tenant.TenantConfigRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.TenantConfig:
        """The whole configuration of the caller's tenant."""
        return await self._op("get_config", request, api_tenant.TenantConfig)

    async def CreateUser(  # noqa: N802
        self, request: api_tenant.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.User:
        """Add a user (owner, admin or member)."""
        return await self._op("create_user", request, api_tenant.User)

    async def DeleteUser(  # noqa: N802
        self, request: api_tenant.UserRef, context: grpc.aio.ServicerContext
    ) -> api_tenant.Empty:
        """Remove a user and their keys."""
        return await self._op("delete_user", request, api_tenant.Empty)

    async def UpdateUser(  # noqa: N802
        self, request: api_tenant.UpdateUserRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.User:
        """Change a user's name or contact fields."""
        return await self._op("update_user", request, api_tenant.User)

    async def ListUsers(  # noqa: N802
        self, request: api_tenant.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.ListUsersResponse:
        """Every user."""
        return await self._op("list_users", request, api_tenant.ListUsersResponse)

    async def PutExtension(  # noqa: N802
        self, request: api_tenant.PutExtensionRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.Extension:
        """Create or replace an extension."""
        return await self._op("put_extension", request, api_tenant.Extension)

    async def DeleteExtension(  # noqa: N802
        self, request: api_tenant.ExtensionRef, context: grpc.aio.ServicerContext
    ) -> api_tenant.Empty:
        """Remove an unused extension."""
        return await self._op("delete_extension", request, api_tenant.Empty)

    async def ListExtensions(  # noqa: N802
        self, request: api_tenant.ListExtensionsRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.ListExtensionsResponse:
        """Every extension."""
        return await self._op("list_extensions", request, api_tenant.ListExtensionsResponse)

    async def PutRingGroup(  # noqa: N802
        self, request: api_tenant.PutRingGroupRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.RingGroup:
        """Create or replace a ring group."""
        return await self._op("put_ring_group", request, api_tenant.RingGroup)

    async def DeleteRingGroup(  # noqa: N802
        self, request: api_tenant.RingGroupRef, context: grpc.aio.ServicerContext
    ) -> api_tenant.Empty:
        """Remove an unused ring group."""
        return await self._op("delete_ring_group", request, api_tenant.Empty)

    async def ListRingGroups(  # noqa: N802
        self, request: api_tenant.ListRingGroupsRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.ListRingGroupsResponse:
        """Every ring group."""
        return await self._op("list_ring_groups", request, api_tenant.ListRingGroupsResponse)

    async def RouteNumber(  # noqa: N802
        self, request: api_tenant.RouteNumberRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.NumberRoute:
        """Route one of the tenant's numbers."""
        return await self._op("route_number", request, api_tenant.NumberRoute)

    async def ListNumbers(  # noqa: N802
        self, request: api_tenant.ListNumbersRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.ListNumbersResponse:
        """The tenant's numbers and their routes."""
        return await self._op("list_numbers", request, api_tenant.ListNumbersResponse)

    async def SetBusinessHours(  # noqa: N802
        self, request: api_tenant.SetBusinessHoursRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.BusinessHours:
        """Opening hours and the after-hours target."""
        return await self._op("set_business_hours", request, api_tenant.BusinessHours)

    async def CreateApiKey(  # noqa: N802
        self, request: api_tenant.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.CreateApiKeyResponse:
        """A key for a user; its secret is shown once."""
        return await self._op("create_api_key", request, api_tenant.CreateApiKeyResponse)

    async def RevokeApiKey(  # noqa: N802
        self, request: api_tenant.ApiKeyRef, context: grpc.aio.ServicerContext
    ) -> api_tenant.Empty:
        """Delete a key."""
        return await self._op("revoke_api_key", request, api_tenant.Empty)

    async def ListApiKeys(  # noqa: N802
        self, request: api_tenant.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> api_tenant.ListApiKeysResponse:
        """Every key (never the secrets)."""
        return await self._op("list_api_keys", request, api_tenant.ListApiKeysResponse)

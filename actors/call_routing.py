"""How a CallActor finds where a call goes: the number directory and the tenants' routes.

Every ask here has ``ROUTE_TIMEOUT_S``; none is made while holding a half-written call
(routing happens before anything is persisted). Destinations arrive checked
(``actors.validate.destination``).
"""

from __future__ import annotations

import asyncio

from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import NotFound, Unavailable

ROUTE_TIMEOUT_S = 3.0


async def number_owner(system: ActorSystem, number: str) -> str:
    """The tenant holding ``number``; ``NotFound`` for a free pool number and
    ``Unavailable`` (no-carrier-trunk) for a number outside the pool."""
    reply = await system.ref(DIRECTORY).ask(
        msg_numbers.LookupNumber(number=number), ROUTE_TIMEOUT_S, reply=msg_numbers.NumberOwner
    )
    if reply.tenant_id:
        return reply.tenant_id
    if reply.in_pool:
        raise NotFound("the number is not in service", error_id="number-not-in-service")
    raise Unavailable(
        "external numbers need a SIP trunk, which this fabric does not have yet",
        error_id="no-carrier-trunk",
    )


async def route_in(
    system: ActorSystem,
    owner: str,
    to: api_common.Destination,
    *,
    inbound: bool,
    exclude_extension: str = "",
) -> msg_tenant.RouteDecision:
    """Where a call to ``to`` rings in tenant ``owner`` (never ``exclude_extension``)."""
    return await system.ref(tenant_address(owner)).ask(
        msg_tenant.RouteCall(
            destination=to, inbound=inbound, exclude_extension=exclude_extension
        ),
        ROUTE_TIMEOUT_S,
        reply=msg_tenant.RouteDecision,
    )


async def route_dial(
    system: ActorSystem,
    tenant_id: str,
    caller: msg_tenant.ResolveCaller,
    to: api_common.Destination,
) -> tuple[msg_tenant.CallerInfo, msg_tenant.RouteDecision]:
    """The caller (in ``tenant_id``) and the route of a new call to ``to``.

    A call within one tenant takes one ask (RouteInternal); a call to another tenant's
    number asks the caller's tenant and the owner's tenant together.
    """
    if to.WhichOneof("target") == "number":
        owner = await number_owner(system, to.number)
        inbound = True
    else:
        owner, inbound = tenant_id, False
    if owner == tenant_id:
        route = msg_tenant.RouteCall(destination=to, inbound=inbound)
        reply = await system.ref(tenant_address(tenant_id)).ask(
            msg_tenant.RouteInternal(caller=caller, route=route),
            ROUTE_TIMEOUT_S,
            reply=msg_tenant.InternalRoute,
        )
        return reply.caller, reply.decision
    caller_info, decision = await asyncio.gather(
        system.ref(tenant_address(tenant_id)).ask(
            caller, ROUTE_TIMEOUT_S, reply=msg_tenant.CallerInfo
        ),
        route_in(system, owner, to, inbound=True),
    )
    return caller_info, decision

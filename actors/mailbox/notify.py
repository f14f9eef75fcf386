"""MESSAGE_WAITING: tell the mailbox owner's softphones (and, for a ring group's shared
mailbox, its members' softphones) that something changed in it.

The mailbox's id is its extension; the TenantActor knows that extension's live Register
streams (``CheckParties``, the same ask a call's session check makes). The event is a
``CallEvent`` of type ``CALL_EVENT_MESSAGE_WAITING`` told to each stream's endpoint; a dead
endpoint or an unreachable tenant is skipped (a softphone that registers later lists its
mailbox), never an error for the mailbox.
"""

from __future__ import annotations

import contextlib

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorAddress, ActorSystem
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.errors import FabricError


async def message_waiting(
    system: ActorSystem,
    tenant_id: str,
    mailbox_id: str,
    waiting: api_calls.MessageWaiting,
    call_id: str,
    at_ms: int,
) -> int:
    """Send MESSAGE_WAITING to every registration of the mailbox's extension and of the
    members of the ring groups sharing it; never raises. Returns how many endpoints were
    told."""
    try:
        status = await system.ref(tenant_address(tenant_id)).ask(
            msg_tenant.CheckParties(extensions=[mailbox_id], shared_mailbox=mailbox_id),
            reply=msg_tenant.PartiesStatus,
        )
    except FabricError:
        return 0
    endpoints: list[msg_common.Address] = [e for party in status.parties for e in party.endpoints]
    event = api_calls.CallEvent(
        call_id=call_id,
        type=api_calls.CALL_EVENT_MESSAGE_WAITING,
        extension=mailbox_id,
        at_ms=at_ms,
        message_waiting=waiting,
    )
    told = 0
    for endpoint in endpoints:
        with contextlib.suppress(FabricError):
            await system.ref(ActorAddress(endpoint.kind, endpoint.key)).tell(event)
            told += 1
    return told

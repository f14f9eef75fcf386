"""What a call tells the world: events to the parties' softphones, its view for one principal,
and its start and end to the tenants' active-call indexes.

Pure functions of the call's state (plus the actor system to send through), kept apart from
the CallActor's state machine (``actors.call``) so that what each party may see is read in
one place:

- Events are ``tell``s to the endpoints the parties' Register streams opened; a dead endpoint
  is skipped (the softphone re-registers), never an error for the call.
- A leg's SRTP relay key is only in the Dial / Answer reply (``call_info`` with the leg);
  events, which every registration of an extension receives, carry the relay address only.
- Across tenants only public numbers show: the caller id is the caller tenant's public
  number, and the caller sees the number it dialled, never the callee's extensions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from google.protobuf.message import Message

from actors.call_index import index_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.actor import ActorAddress, ActorSystem
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.errors import FabricError

__all__ = ["announce", "call_info", "caller_id_for", "emit"]


async def announce(system: ActorSystem, s: msg_call.LiveCallState, message: Message) -> None:
    """Tell the active-call index of each tenant of the call (start or end); never raises."""
    tenants = {s.tenant_id, s.callee_tenant_id} - {""}
    for tenant_id in tenants:
        with contextlib.suppress(FabricError):
            await system.ref(index_address(tenant_id)).tell(message)


async def emit(
    system: ActorSystem,
    s: msg_call.LiveCallState,
    legs: Iterable[msg_call.Leg | msg_tenant.RingTarget],
    event_type: api_calls.CallEventType.ValueType,
    reason: api_calls.EndReason.ValueType,
    at_ms: int,
) -> None:
    """Send one call event to every registration of each of ``legs``; never raises."""
    for leg in legs:
        media = leg.media if isinstance(leg, msg_call.Leg) else None
        event = api_calls.CallEvent(
            call_id=s.call_id,
            type=event_type,
            to=s.to,
            extension=leg.extension,
            end_reason=reason,
            at_ms=at_ms,
        )
        leg_tenant = leg.tenant_id if isinstance(leg, msg_call.Leg) else s.callee_tenant_id
        setattr(event, "from", caller_id_for(s, leg_tenant))
        if event_type == api_calls.CALL_EVENT_INCOMING and s.media:
            event.offered_suite = s.caller.media.suite  # the caller's leg's suite
        if media is not None and media.relay_port:
            event.media.CopyFrom(media)
            # the leg's SRTP key goes only in the Dial / Answer reply, to the one
            # registration that dialled or answered; events reach every registration
            event.media.ClearField("key")
        for endpoint in leg.endpoints:
            try:
                await system.ref(ActorAddress(endpoint.kind, endpoint.key)).tell(event)
            except FabricError:
                pass  # the softphone's stream is gone; it re-registers


def caller_id_for(s: msg_call.LiveCallState, tenant_id: str) -> str:
    """The caller id shown in ``tenant_id``: the caller's extension in its own tenant, its
    tenant's public number in another."""
    if tenant_id == s.tenant_id:
        return getattr(s, "from")  # type: ignore[no-any-return]
    return s.from_public


def call_info(
    s: msg_call.LiveCallState, p: msg_common.Principal, leg: msg_call.Leg | None = None
) -> api_calls.CallInfo:
    """The call as seen by ``p``; with ``leg``, that leg's media answer too (its key
    included: only the Dial or Answer reply of the party that made the leg carries it)."""
    info = api_calls.CallInfo(
        call_id=s.call_id,
        state=s.state,
        to=s.to,
        answered_by=s.answered.extension,
        started_at_ms=s.started_at_ms,
        answered_at_ms=s.answered_at_ms,
        ended_at_ms=s.ended_at_ms,
        end_reason=s.end_reason,
        ringing=[t.extension for t in s.ringing],
    )
    setattr(info, "from", caller_id_for(s, p.tenant_id))
    if s.callee_tenant_id and p.tenant_id != s.callee_tenant_id:
        # across tenants only public numbers show: the number dialled, not who rings
        del info.ringing[:]
        info.answered_by = s.to if s.answered.extension else ""
    if leg is not None and leg.media.relay_port:
        info.media.CopyFrom(leg.media)
    return info

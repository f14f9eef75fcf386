"""Who a principal is on a call, which ringing target an answer or reject names, and how a
blind transfer re-casts the parties.

Pure functions of the call's state, kept apart from the CallActor's state machine
(``actors.call``). A principal that is not a party gets the same ``call-not-found`` as for a
call that does not exist, so a call's existence never leaks to others.
"""

from __future__ import annotations

from actors import validate
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import FailedPrecondition, NotFound

__all__ = ["party_side", "ring_transfer_target", "ringing_target"]


def party_side(s: msg_call.LiveCallState, p: msg_common.Principal) -> str:
    """Which party the principal is: 'caller', 'callee', 'both' (e.g. an admin of the
    tenant on both ends), or NotFound when not a party (the same answer as no call)."""
    member = p.role == api_common.ROLE_MEMBER
    callee_users = {t.user_id for t in s.ringing}
    if s.answered.user_id:
        callee_users.add(s.answered.user_id)
    callee = p.tenant_id == s.callee_tenant_id and (not member or p.user_id in callee_users)
    caller = p.tenant_id == s.caller.tenant_id and (not member or p.user_id == s.caller.user_id)
    if caller and callee:
        return "both"
    if caller:
        return "caller"
    if callee:
        return "callee"
    raise NotFound("no such call", error_id="call-not-found")


def ringing_target(
    s: msg_call.LiveCallState, p: msg_common.Principal, extension: str
) -> msg_tenant.RingTarget:
    """The ringing target ``extension`` names, if ``p`` may act for it (an answer or a
    reject); FailedPrecondition when the call is not ringing there."""
    validate.extension(extension)
    if s.state != api_calls.CALL_STATE_RINGING:
        raise FailedPrecondition("the call is not ringing", error_id="call-not-ringing")
    for target in s.ringing:
        if (
            target.extension == extension
            and p.tenant_id == s.callee_tenant_id
            and (p.role != api_common.ROLE_MEMBER or p.user_id == target.user_id)
        ):
            return target
    raise FailedPrecondition(
        "that extension is not ringing for this call", error_id="extension-not-ringing"
    )


def ring_transfer_target(
    s: msg_call.LiveCallState,
    leaving: msg_call.Leg,
    staying: msg_call.Leg,
    reply: msg_tenant.RouteDecision,
    display: str,
) -> msg_call.Leg:
    """Re-cast ``s`` for a blind transfer: the staying party becomes the caller and the
    route decision ``reply``'s first step rings; returns (a copy of) the leg that leaves."""
    left = msg_call.Leg()
    left.CopyFrom(leaving)
    remaining = msg_call.Leg()
    remaining.CopyFrom(staying)
    s.caller.CopyFrom(remaining)
    s.answered.Clear()
    s.callee_tenant_id = reply.tenant_id
    s.state = api_calls.CALL_STATE_RINGING
    del s.steps[:]
    s.steps.extend(reply.steps)
    s.step_index = 0
    del s.ringing[:]
    s.ringing.extend(s.steps[0].targets)
    s.voicemail = reply.voicemail
    s.voicemail_extension = reply.voicemail_extension
    s.transferred_to = display
    s.transfers += 1
    return left

"""Whether an answered call's parties are still there: the session check of a CallActor.

An answered (or held) call checks its parties every ``calls.refresh_interval_s`` on a
durable reminder (``session``), so the check survives passivation, the loss of a host and
a restart of the fabric. It asks each party's tenant which registrations the party's
extension has now (``CheckParties``), and decides here, as a pure function of the saved
state, the answer and the time (``ctx.clock``), so it is unit-tested on a manual clock:

- A party seen registered refreshes the call (the idea of RFC 4028's session timer: a
  registered softphone pings its Register stream, which keeps its registration alive, so
  its pings are its refreshes); the call learns its current endpoints, so a softphone that
  registered again (after its stream broke, or the fabric restarted) gets the call's
  events on its new stream.
- A party that had a registration during the call and has none now is *lost*: the call
  notes when (the tenant's time of the last unregistration, else when the party was last
  seen) and gives it ``calls.party_grace_s`` from the moment it noticed to register again.
  Still lost after that, the call ends ``END_REASON_PARTY_LOST`` and its talk time stops at
  the loss.
- A party that never registered (a call driven through the API alone) is never lost; a call
  that nobody refreshed - no party registered, no party acting on it through the API - for
  ``calls.session_expires_s`` ends ``END_REASON_SESSION_EXPIRED``.
- A call older than ``calls.max_duration_s`` ends ``END_REASON_MAX_DURATION``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.config import CallSettings
from fabric.errors import FabricError

log = logging.getLogger(__name__)

SESSION_REMINDER = "session"
MIN_WAIT_S = 0.05
CHECK_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check decided: end the call (``reason`` != 0, at ``ended_at_ms``), or check
    again after ``next_check_s``."""

    reason: api_calls.EndReason.ValueType = api_calls.END_REASON_UNSPECIFIED
    ended_at_ms: int = 0
    next_check_s: float = 0.0


def parties(s: msg_call.LiveCallState) -> list[msg_call.Leg]:
    """The call's connected parties (the caller and, once answered, the answering leg)."""
    return [leg for leg in (s.caller, s.answered) if leg.extension]


def start_session(s: msg_call.LiveCallState, now_ms: int) -> None:
    """At the answer: the call is fresh, and each party with endpoints counts as registered."""
    s.refreshed_at_ms = now_ms
    for leg in parties(s):
        if leg.endpoints:
            leg.registered = True
            leg.seen_at_ms = now_ms


def check(
    s: msg_call.LiveCallState,
    status: Mapping[str, msg_tenant.PartyStatus | None],
    now_ms: int,
    timers: CallSettings,
) -> Verdict:
    """Update the parties of ``s`` from ``status`` (``tenant_id/extension`` -> what the
    tenant said, None when it could not answer) and decide; see the module docstring."""
    if now_ms >= s.started_at_ms + int(timers.max_duration_s * 1000):
        return Verdict(api_calls.END_REASON_MAX_DURATION, now_ms)
    grace_ms = int(timers.party_grace_s * 1000)
    for leg in parties(s):
        st = status.get(party_key(leg))
        if st is None:
            continue  # the tenant did not answer: neither refreshed nor lost
        if st.endpoints:
            leg.registered = True
            leg.seen_at_ms = now_ms
            leg.lost_at_ms = 0
            leg.grace_until_ms = 0
            if list(leg.endpoints) != list(st.endpoints):
                del leg.endpoints[:]
                leg.endpoints.extend(st.endpoints)
            s.refreshed_at_ms = now_ms
        elif leg.registered and not leg.lost_at_ms:
            leg.lost_at_ms = st.gone_at_ms or leg.seen_at_ms or now_ms
            leg.grace_until_ms = now_ms + grace_ms
            del leg.endpoints[:]
    lost = [leg for leg in parties(s) if leg.lost_at_ms]
    if any(now_ms >= leg.grace_until_ms for leg in lost):
        ended = min(leg.lost_at_ms for leg in lost)
        return Verdict(api_calls.END_REASON_PARTY_LOST, max(ended, s.answered_at_ms))
    expires_at = s.refreshed_at_ms + int(timers.session_expires_s * 1000)
    if now_ms >= expires_at:
        return Verdict(api_calls.END_REASON_SESSION_EXPIRED, now_ms)
    due = [
        now_ms + int(timers.refresh_interval_s * 1000),
        expires_at,
        s.started_at_ms + int(timers.max_duration_s * 1000),
        *(leg.grace_until_ms for leg in lost),
    ]
    return Verdict(next_check_s=max(MIN_WAIT_S, (min(due) - now_ms) / 1000))


def party_key(leg: msg_call.Leg) -> str:
    """How a party is named in a ``check`` status map."""
    return f"{leg.tenant_id}/{leg.extension}"


async def party_status(
    system: ActorSystem, s: msg_call.LiveCallState
) -> dict[str, msg_tenant.PartyStatus | None]:
    """Ask each party's tenant whether the party's extension is registered now (one ask per
    tenant, together); a tenant that does not answer leaves its parties at None."""
    by_tenant: dict[str, list[str]] = {}
    for leg in parties(s):
        by_tenant.setdefault(leg.tenant_id, []).append(leg.extension)
    out: dict[str, msg_tenant.PartyStatus | None] = {}

    async def one(tenant_id: str, extensions: list[str]) -> None:
        got: dict[str, msg_tenant.PartyStatus] = {}
        try:
            reply = await system.ref(tenant_address(tenant_id)).ask(
                msg_tenant.CheckParties(extensions=extensions),
                CHECK_TIMEOUT_S,
                reply=msg_tenant.PartiesStatus,
            )
            got = {p.extension: p for p in reply.parties}
        except FabricError as exc:
            log.warning("session check: a tenant did not answer (%s)", exc.error_id)
        for extension in extensions:
            out[f"{tenant_id}/{extension}"] = got.get(extension)

    await asyncio.gather(*(one(t, e) for t, e in by_tenant.items()))
    return out

"""The CallActor: one call's state machine, persisted on every transition.

Kind ``call``, key = call id (32 hex digits chosen by the API edge). States::

    (routing) -> RINGING -> ANSWERED <-> HELD -> ENDED
                    |  \\-> (next ring step)      ^
                    \\------------------------------/  reject, cancel, ring-out, error

Why it is shaped this way:

- Routing happens before anything is persisted: a dial that cannot be routed (no such
  extension, an external number without a trunk) answers with an error and leaves no call
  and no CDR behind. Once ringing, every transition is saved before events go out, so a
  re-activation (after passivation or the loss of the host) resumes from the last saved
  state: an answered call keeps going, a ringing call's ring reminder still fires.
- The state is read by the first message, not at activation: a dial (``StartCall``) reads
  it only after routing and admission, with ``load_state(new=True)``, so on a fenced store
  (Cassandra) a call id never claimed before costs one claim and no read.
- The ring timeout of each ring step is a durable reminder named ``ring-<step>``; a late
  reminder of an earlier step is ignored by its name. All steps together ring at most
  ``calls.max_ring_s`` (a long in-order ring group is cut short, then rings out).
- Ending is two-phase: the ENDED state (with ``cdr_written = false``) is saved first, then
  the CDR is written (idempotent by call id), then the state is cleared (the call's last
  write: the reply does not wait for it, the activation does). A crash between the two
  re-writes the same CDR on re-activation (the ``cdr`` reminder guarantees one), so a
  call ends with exactly one CDR, never zero and never two.
- Events to softphones are ``tell``s to the endpoints their Register streams opened; a dead
  endpoint is skipped (the softphone re-registers), never an error for the call.
- The CDR is kept in the *caller's* tenant (the one that placed, and pays for, the call).
- Media (when a ``CallMedia`` service is deployed and the caller offered SRTP): the relay
  session is opened, and the caller's leg added, before anything is saved, so a refused
  offer fails the dial and leaves nothing; an answer's leg is added before the state
  changes, so a refused answer leaves the call ringing. A party that leaves by blind
  transfer loses its leg at once. A leg's relay key is only in the reply to the Dial or
  Answer that made the leg (events, which every softphone registered on the extension
  gets, carry the relay's address without the key). ``MediaTimedOut`` (from
  ``actors.media_watch``) ends the call with ``END_REASON_MEDIA_TIMEOUT``. Ending releases
  the session and puts its packet statistics into the CDR.
- Parties that vanish (``actors.call_liveness``): an answered call checks its parties on a
  durable ``session`` reminder every ``calls.refresh_interval_s`` and ends
  ``party-lost`` (talk time stopping at the loss), ``session-expired`` or
  ``max-duration``. Any operation of a party on the call refreshes its session.
- The tenant's list of active calls is the ``ActiveCallIndex`` (``actors.call_index``), told
  when the call starts, at each session check and when it ends. A new call is first admitted
  there (``AdmitCall``) against its tenant's plan limits (``limits.*``: concurrent calls,
  calls with media), before anything is saved; refused, it leaves nothing.
- Across tenants only public numbers show: a party in another tenant sees the caller's
  tenant's public number as caller id, and the caller sees the number it dialled, never
  the callee's ringing or answering extensions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import NewType

from google.protobuf.message import Message

from actors import call_events, call_voicemail, validate
from actors import call_liveness as liveness
from actors.call_cdr import REASON_LABEL, build_cdr
from actors.call_index import index_address
from actors.call_media import NO_MEDIA, CallMedia
from actors.call_metrics import CallMetrics
from actors.call_ops import CallOperations
from actors.call_parties import party_side
from actors.call_routing import route_dial
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import media_events_pb2 as msg_media
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.actor import ActorAddress, DeactivationReason, VirtualActor, handler
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.config import CallSettings, LimitsSettings
from fabric.errors import (
    AlreadyExists,
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from fabric.storage.base import CdrStore

log = logging.getLogger(__name__)

CallId = NewType("CallId", str)
"""A call's id (32 hex digits, chosen by the API edge): the CallActor's key."""

KIND = "call"
CDR_RETRY_S = 5.0
_TALKING = (api_calls.CALL_STATE_ANSWERED, api_calls.CALL_STATE_HELD)

__all__ = ["KIND", "CallActor", "CallId", "build_cdr", "call_address"]


def call_address(call_id: str) -> ActorAddress:
    """The address of a call's actor."""
    return ActorAddress(KIND, call_id)


class CallActor(CallOperations, VirtualActor[CallId]):
    """One call: routing, ringing, answer, hold, transfer, hang-up and its CDR."""

    kind = KIND

    async def on_activate(self) -> None:
        """Take the host's services; the state is read by the first message (``_load``)."""
        self.state: msg_call.LiveCallState | None = None
        self._loaded = False
        self.metrics: CallMetrics | None = None
        self.media: CallMedia = NO_MEDIA
        with contextlib.suppress(FabricError):
            self.metrics = self.ctx.service(CallMetrics)
        with contextlib.suppress(FabricError):
            self.media = self.ctx.service(CallMedia)  # type: ignore[type-abstract]
        self.timers = CallSettings()
        with contextlib.suppress(FabricError):
            self.timers = self.ctx.service(CallSettings)
        self.limits = LimitsSettings()
        with contextlib.suppress(FabricError):
            self.limits = self.ctx.service(LimitsSettings)
        self._counted_active = False

    async def _load(self, new: bool = False) -> None:
        """Resume from the saved state; finish the CDR of a call that ended mid-write.

        ``new`` (a dial): on a fenced store the call claims first and reads nothing when
        its id was never claimed (see ``ActorContext.load_state``): one LWT, no read.
        """
        self.state = await self.ctx.load_state(msg_call.LiveCallState, new=new)
        self._loaded = True
        if self.state is not None and self.state.state != api_calls.CALL_STATE_ENDED:
            self._count_active(True)
        if self.state is not None and self.state.state == api_calls.CALL_STATE_ENDED:
            await self._finish_cdr(retrying=True)

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        """Read the state before the first message's handler (a dial reads it itself)."""
        if not self._loaded and not isinstance(message, msg_call.StartCall):
            await self._load()
        return await super().handle(message, sender)

    async def on_deactivate(self, reason: DeactivationReason) -> None:
        """Stop counting this call as active on this host."""
        self._count_active(False)

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    def _count_active(self, on: bool) -> None:
        if self.metrics is None or on == self._counted_active:
            return
        self._counted_active = on
        self.metrics.active.inc() if on else self.metrics.active.dec()

    async def on_reminder(self, name: str) -> None:
        """A ring step timed out, a session check is due, or a CDR write is to be retried."""
        if not self._loaded:
            await self._load()
        s = self.state
        if s is None:
            return
        if name == "cdr":
            await self._finish_cdr(retrying=True)
            return
        if name == liveness.SESSION_REMINDER and s.state in _TALKING:
            await self._session_check(s)
            return
        if name.startswith("ring-") and s.state == api_calls.CALL_STATE_RINGING:
            if name == f"ring-{s.step_index}":
                await self._advance(s)

    # ---- start ------------------------------------------------------------------------

    @handler
    async def on_start(self, msg: msg_call.StartCall) -> api_calls.CallInfo:
        """Route and ring a new call (see the module docstring)."""
        if self.state is not None:
            raise AlreadyExists("the call exists", error_id="call-exists")
        t0 = self.ctx.clock.now()
        p = msg.principal
        caller_ref = msg_tenant.ResolveCaller(principal=p, from_extension=msg.from_extension)
        try:
            which = validate.destination(msg.to)
            to = msg.to.extension if which == "extension" else msg.to.number
            caller, decision = await route_dial(self.ctx.system, p.tenant_id, caller_ref, msg.to)
            direction = "internal" if decision.tenant_id == p.tenant_id else "outbound"
            await self._admit(msg, caller)
            if not self._loaded:  # after routing and limits: a refused dial claims nothing
                try:
                    await self._load(new=True)
                except FabricError:
                    await self._unadmit(p.tenant_id, msg.call_id)
                    raise
                if self.state is not None:
                    raise AlreadyExists("the call exists", error_id="call-exists")
        except FabricError as exc:
            if self.metrics is not None:
                self.metrics.failed.labels(reason=exc.error_id).inc()
            self.ctx.deactivate_after_turn()
            raise
        now = self._now_ms()
        s = msg_call.LiveCallState(
            call_id=msg.call_id,
            tenant_id=p.tenant_id,
            to=to,
            direction=direction,
            state=api_calls.CALL_STATE_RINGING,
            caller=msg_call.Leg(
                tenant_id=p.tenant_id,
                extension=caller.extension,
                user_id=caller.user_id,
                endpoints=caller.endpoints,
                recording_policy=caller.recording_policy,
            ),
            callee_tenant_id=decision.tenant_id,
            started_at_ms=now,
            ringing_at_ms=now,
            voicemail=decision.voicemail,
            voicemail_extension=decision.voicemail_extension,
            caller_offer=msg.media,
            from_public=caller.public_number,
        )
        setattr(s, "from", caller.extension)
        s.steps.extend(decision.steps)
        if s.steps:
            s.ringing.extend(s.steps[0].targets)
        if msg.HasField("media"):
            try:
                await self.media.open(s.call_id)
                answer = await self.media.add_leg(s.call_id, "caller", msg.media)
            except FabricError:
                with contextlib.suppress(FabricError):
                    await self.media.close(s.call_id)  # no session outlives a failed dial
                await self._unadmit(p.tenant_id, s.call_id)  # nor its place in the limits
                self.ctx.deactivate_after_turn()
                raise
            s.media = True
            if answer is not None:
                s.caller.media.CopyFrom(answer)
                s.caller.media_leg_id = "caller"
        if s.steps:
            await self.ctx.set_reminder("ring-0", self._ring_for(s, 0))
        await self.ctx.save_state(s)
        self.state = s
        self._count_active(True)
        if self.metrics is not None:
            self.metrics.started.inc()
            self.metrics.dial_to_ringing.observe(max(0.0, self.ctx.clock.now() - t0))
        await self._announce(s, msg_tenant.CallStarted(call_id=s.call_id))
        if not s.steps:  # nothing to ring (a dangling route): it rings out at once
            await self._ring_out(s)
            return self._info(s, p, s.caller)  # (a mailbox may answer: the caller's key)
        await self._emit(s, [s.caller], api_calls.CALL_EVENT_RINGING)
        await self._emit(s, s.ringing, api_calls.CALL_EVENT_INCOMING)
        return self._info(s, p, s.caller)

    async def _admit(self, msg: msg_call.StartCall, caller: msg_tenant.CallerInfo) -> None:
        """Count the call against its tenant's plan limits (RESOURCE_EXHAUSTED over them)."""
        limits = self.limits.for_plan(caller.plan == api_carrier.PLAN_PRO)
        admit = msg_tenant.AdmitCall(
            call_id=msg.call_id,
            media=msg.HasField("media"),
            max_calls=limits.concurrent_calls,
            max_media=limits.media_sessions,
        )
        await self.ctx.system.ref(index_address(msg.principal.tenant_id)).ask(
            admit, reply=msg_tenant.CallAdmitted
        )

    async def _unadmit(self, tenant_id: str, call_id: str) -> None:
        """Give back the place ``_admit`` took (a dial that failed after it)."""
        with contextlib.suppress(FabricError):
            await self.ctx.system.ref(index_address(tenant_id)).tell(
                msg_tenant.CallEnded(call_id=call_id))

    # ---- operations -------------------------------------------------------------------

    @handler
    async def on_op(self, msg: msg_call.CallOp) -> api_calls.CallInfo:
        """Get, answer, reject, hang up, hold, resume or transfer the call."""
        s = self.state
        if s is None:
            self.ctx.deactivate_after_turn()
            raise NotFound("no such call", error_id="call-not-found")
        p = msg.principal
        side = party_side(s, p)
        if s.state in _TALKING:
            s.refreshed_at_ms = self._now_ms()  # a party acting on the call refreshes it
        which = msg.WhichOneof("op")
        if which == "get":
            return self._info(s, p)
        if s.state == api_calls.CALL_STATE_ENDED:
            raise FailedPrecondition("the call has ended", error_id="call-ended")
        if which == "answer":
            await self._answer(s, p, msg.answer)
            return self._info(s, p, s.answered)
        elif which == "reject":
            await self._reject(s, p, msg.reject.extension)
        elif which == "hangup":
            await self._hangup(s, side)
        elif which in ("hold", "resume"):
            await self._hold(s, which == "hold")
        elif which == "transfer":
            await self._transfer(s, p, side, msg.transfer.to)
        else:
            raise InvalidArgument("empty call operation", error_id="empty-request")
        return self._info(s, p)

    @handler
    async def on_media_timed_out(self, msg: msg_call.MediaTimedOut) -> None:
        """The relay saw a party's media go silent: its phone is gone, so the call ends."""
        s = self.state
        if s is None:
            self.ctx.deactivate_after_turn()  # already over (or never was): nothing to do
            return
        if s.state == api_calls.CALL_STATE_ENDED or not s.media:
            return
        await self._end(s, api_calls.END_REASON_MEDIA_TIMEOUT)

    # ---- ringing steps and ending -----------------------------------------------------

    async def _advance(self, s: msg_call.LiveCallState) -> None:
        """The current ring step is over: ring the next one, or ring out."""
        previous = list(s.ringing)
        if s.step_index + 1 >= len(s.steps) or self._ring_for(s, s.step_index + 1) <= 0:
            await self._ring_out(s)
            return
        s.step_index += 1
        step = s.steps[s.step_index]
        del s.ringing[:]
        s.ringing.extend(step.targets)
        await self.ctx.set_reminder(f"ring-{s.step_index}", self._ring_for(s, s.step_index))
        await self.ctx.save_state(s)
        await self._emit(s, previous, api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_NO_ANSWER)
        await self._emit(s, s.ringing, api_calls.CALL_EVENT_INCOMING)

    def _ring_for(self, s: msg_call.LiveCallState, index: int) -> float:
        """How long ring step ``index`` rings: its timeout, cut so that the steps together
        ring at most ``calls.max_ring_s`` (earlier steps counted at their full timeout);
        0 = the budget is spent, ring out."""
        spent = sum(step.timeout_s for step in s.steps[:index])
        return max(0.0, min(s.steps[index].timeout_s, self.timers.max_ring_s - spent))

    async def _session_check(self, s: msg_call.LiveCallState) -> None:
        """Are the parties still there? End the call, or save what was seen and check again."""
        status = await liveness.party_status(self.ctx.system, s)
        verdict = liveness.check(s, status, self._now_ms(), self.timers)
        if verdict.reason:
            await self._end(s, verdict.reason, verdict.ended_at_ms)
            return
        await self.ctx.save_state(s)
        await self.ctx.set_reminder(liveness.SESSION_REMINDER, verdict.next_check_s)
        await self._announce(s, msg_tenant.CallStarted(call_id=s.call_id))  # (listed again)

    async def _ring_out(self, s: msg_call.LiveCallState) -> None:
        """Nobody answered: the mailbox answers (``actors.call_voicemail``), else it ends."""
        if not await call_voicemail.answer(self, s):
            voicemail = s.voicemail
            await self._end(
                s, api_calls.END_REASON_VOICEMAIL if voicemail else api_calls.END_REASON_NO_ANSWER
            )

    @handler
    async def on_playrec_finished(self, msg: msg_media.PlayRecFinished) -> None:
        """The mailbox's play/record leg ended (``actors.call_voicemail``)."""
        await call_voicemail.on_playrec_finished(self, msg)

    async def _end(
        self,
        s: msg_call.LiveCallState,
        reason: api_calls.EndReason.ValueType,
        ended_at_ms: int = 0,
    ) -> None:
        """ENDED is saved, the CDR written, the state cleared, then the parties told.

        ``ended_at_ms`` (default now) is when the talk time stops, e.g. at a party's loss.
        """
        reason = await call_voicemail.before_end(self, s, reason)  # a mailbox's message first
        ringing = list(s.ringing)
        if s.state == api_calls.CALL_STATE_RINGING:
            await self.ctx.cancel_reminder(f"ring-{s.step_index}")
        elif s.state in _TALKING:
            await self.ctx.cancel_reminder(liveness.SESSION_REMINDER)
        s.state = api_calls.CALL_STATE_ENDED
        s.end_reason = reason
        s.ended_at_ms = max(ended_at_ms or self._now_ms(), s.started_at_ms)
        del s.ringing[:]
        await self.ctx.save_state(s)
        self._count_active(False)
        if self.metrics is not None:
            self.metrics.ended.labels(reason=REASON_LABEL.get(reason, "failed")).inc()
        await self._recording_on_leave(s, "call-ended")  # sealed before the session goes
        if s.media:
            try:
                stats = await self.media.close(s.call_id)
            except FabricError:
                stats = {}
            s.packets_sent = int(stats.get("packets_sent", 0))
            s.packets_received = int(stats.get("packets_received", 0))
            s.packets_lost = int(stats.get("packets_lost", 0))
            s.jitter_ms = float(stats.get("jitter_ms", 0.0))
        # the CDR is persisted (or its retry scheduled) before anyone hears "ended"
        await self._finish_cdr()
        parties = [s.caller] + ([s.answered] if s.answered.extension else [])
        await self._emit(s, parties, api_calls.CALL_EVENT_ENDED, reason)
        await self._emit(s, ringing, api_calls.CALL_EVENT_ENDED, reason)
        await self._announce(s, msg_tenant.CallEnded(call_id=s.call_id))

    async def _finish_cdr(self, retrying: bool = False) -> None:
        s = self.state
        if s is None or s.state != api_calls.CALL_STATE_ENDED:
            return
        try:
            await self.ctx.service(CdrStore).write(build_cdr(s))  # type: ignore[type-abstract]
        except FabricError as exc:
            if exc.retryable:
                log.warning("CDR write deferred: %s", exc.error_id)
                await self.ctx.set_reminder("cdr", CDR_RETRY_S)
                return
            log.error("CDR refused: %s", exc.error_id)
        if retrying:
            with contextlib.suppress(FabricError):
                await self.ctx.cancel_reminder("cdr")
        # the CDR is durable: the reply need not wait for the clear (see ``clear_state``)
        await self.ctx.clear_state(and_deactivate=True)
        self.state = None  # done: a late reminder or message finds no call

    # ---- events (actors.call_events) --------------------------------------------------

    async def _announce(self, s: msg_call.LiveCallState, message: Message) -> None:
        await call_events.announce(self.ctx.system, s, message)

    async def _emit(
        self,
        s: msg_call.LiveCallState,
        legs: Iterable[msg_call.Leg | msg_tenant.RingTarget],
        event_type: api_calls.CallEventType.ValueType,
        reason: api_calls.EndReason.ValueType = api_calls.END_REASON_UNSPECIFIED,
    ) -> None:
        await call_events.emit(self.ctx.system, s, legs, event_type, reason, self._now_ms())

    @staticmethod
    def _info(
        s: msg_call.LiveCallState, p: msg_common.Principal, leg: msg_call.Leg | None = None
    ) -> api_calls.CallInfo:
        return call_events.call_info(s, p, leg)

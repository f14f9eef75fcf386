"""The answered call's operations of the CallActor: answer, reject, hang up, hold, transfer.

A mixin of :class:`actors.call.CallActor` (with the recording mixin under it): each method
runs one ``CallOp`` on the live state ``s`` after the actor's ``on_op`` has checked that the
call exists, has not ended and who the principal is (``party_side``). The rules the call's
module doc names hold here: a refused answer's media leg leaves the call ringing (the leg is
added before the state changes), every transition is saved before events go out, a
transfer's leaving party loses its relay leg at once, and hold pauses the recording.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from actors import call_liveness as liveness
from actors import validate
from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from actors.call_parties import ring_transfer_target, ringing_target
from actors.call_recording import CallRecording
from actors.call_routing import number_owner, route_in
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.config import CallSettings
from fabric.errors import FabricError, FailedPrecondition

log = logging.getLogger(__name__)

MAX_TRANSFERS = 5
"""A call can be transferred at most this many times."""


class CallOperations(CallRecording):
    """Answer, reject, hang up, hold/resume and blind transfer (see the module doc)."""

    # provided by the CallActor
    media: CallMedia
    metrics: CallMetrics | None
    timers: CallSettings

    if TYPE_CHECKING:  # the CallActor's own; declared for the type checker only

        async def _advance(self, s: msg_call.LiveCallState) -> None: ...

        def _ring_for(self, s: msg_call.LiveCallState, index: int) -> float: ...

        async def _ring_out(self, s: msg_call.LiveCallState) -> None: ...

        async def _end(
            self,
            s: msg_call.LiveCallState,
            reason: api_calls.EndReason.ValueType,
            ended_at_ms: int = 0,
        ) -> None: ...

        async def _emit(
            self,
            s: msg_call.LiveCallState,
            legs: Iterable[msg_call.Leg | msg_tenant.RingTarget],
            event_type: api_calls.CallEventType.ValueType,
            reason: api_calls.EndReason.ValueType = api_calls.END_REASON_UNSPECIFIED,
        ) -> None: ...

    async def _answer(
        self, s: msg_call.LiveCallState, p: msg_common.Principal, req: api_calls.AnswerRequest
    ) -> None:
        target = ringing_target(s, p, req.extension)
        others = [t for t in s.ringing if t.extension != target.extension]
        answer: api_common.MediaAnswer | None = None
        leg_id = f"callee-{s.transfers}" if s.transfers else "callee"
        if s.media and req.HasField("media"):
            # before any state changes: a refused offer leaves the call ringing
            answer = await self.media.add_leg(s.call_id, leg_id, req.media)
        now = self._now_ms()
        s.state = api_calls.CALL_STATE_ANSWERED
        s.answered.CopyFrom(
            msg_call.Leg(
                tenant_id=s.callee_tenant_id,
                extension=target.extension,
                user_id=target.user_id,
                endpoints=target.endpoints,
                recording_policy=target.recording_policy,
            )
        )
        if not s.answered_at_ms:
            s.answered_at_ms = now
        del s.ringing[:]
        if answer is not None:
            s.answered.media.CopyFrom(answer)
            s.answered.media_leg_id = leg_id
        liveness.start_session(s, now)
        await self.ctx.cancel_reminder(f"ring-{s.step_index}")
        await self.ctx.set_reminder(liveness.SESSION_REMINDER, self.timers.refresh_interval_s)
        await self.ctx.save_state(s)
        if self.metrics is not None:
            self.metrics.answered.inc()
            self.metrics.dial_to_answered.observe(max(0.0, (now - s.started_at_ms) / 1000))
        await self._emit(s, [s.caller, s.answered], api_calls.CALL_EVENT_ANSWERED)
        await self._emit(
            s, others, api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_ANSWERED_ELSEWHERE
        )
        await self._recording_on_answer(s)  # an extension that records always (call_recording)

    async def _reject(
        self, s: msg_call.LiveCallState, p: msg_common.Principal, extension: str
    ) -> None:
        target = ringing_target(s, p, extension)
        remaining = [t for t in s.ringing if t.extension != target.extension]
        if remaining:
            del s.ringing[:]
            s.ringing.extend(remaining)
            await self.ctx.save_state(s)
            await self._emit(s, [target], api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_REJECTED)
            return
        if s.step_index + 1 < len(s.steps):
            await self._emit(s, [target], api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_REJECTED)
            await self._advance(s)
            return
        if s.voicemail:  # every target declined: the mailbox answers
            await self._ring_out(s)
            return
        await self._end(s, api_calls.END_REASON_REJECTED)

    async def _hangup(self, s: msg_call.LiveCallState, side: str) -> None:
        if s.state == api_calls.CALL_STATE_RINGING:
            # hanging up a call you placed cancels it; the callee's way to refuse is Reject
            reason = (
                api_calls.END_REASON_REJECTED
                if side == "callee"
                else api_calls.END_REASON_CANCELLED
            )
            await self._end(s, reason)
        else:
            await self._end(s, api_calls.END_REASON_COMPLETED)

    async def _hold(self, s: msg_call.LiveCallState, hold: bool) -> None:
        want = api_calls.CALL_STATE_ANSWERED if hold else api_calls.CALL_STATE_HELD
        if s.state != want:
            raise FailedPrecondition(
                "only an answered call can be held" if hold else "only a held call can resume",
                error_id="call-not-answered" if hold else "call-not-held",
            )
        s.state = api_calls.CALL_STATE_HELD if hold else api_calls.CALL_STATE_ANSWERED
        await self.ctx.save_state(s)
        await self._recording_on_hold(s, hold)  # nothing is recorded while held
        event = api_calls.CALL_EVENT_HELD if hold else api_calls.CALL_EVENT_RESUMED
        await self._emit(s, [s.caller, s.answered], event)

    async def _transfer(
        self,
        s: msg_call.LiveCallState,
        p: msg_common.Principal,
        side: str,
        to: api_common.Destination,
    ) -> None:
        if s.state not in (api_calls.CALL_STATE_ANSWERED, api_calls.CALL_STATE_HELD):
            raise FailedPrecondition(
                "only an answered call can be transferred", error_id="call-not-answered"
            )
        if s.transfers >= MAX_TRANSFERS:
            raise FailedPrecondition(
                f"a call can be transferred at most {MAX_TRANSFERS} times",
                error_id="too-many-transfers",
            )
        which = validate.destination(to)
        # the party that asks leaves; when it is on both ends, the answering side transfers
        leaving = s.caller if side == "caller" else s.answered
        staying = s.answered if side == "caller" else s.caller
        if which == "extension":
            display = to.extension
            owner = leaving.tenant_id
        else:
            display = to.number
            owner = await number_owner(self.ctx.system, to.number)
        exclude = staying.extension if owner == staying.tenant_id else ""
        reply = await route_in(
            self.ctx.system, owner, to, inbound=which == "number", exclude_extension=exclude
        )
        if not reply.steps:
            raise FailedPrecondition(
                "the transfer target has nothing to ring", error_id="transfer-target-empty"
            )
        await self._recording_on_leave(s, "transfer")  # the recorded party leaves
        left = ring_transfer_target(s, leaving, staying, reply, display)
        await self.ctx.set_reminder("ring-0", self._ring_for(s, 0))
        await self.ctx.save_state(s)
        if s.media and left.media_leg_id:
            try:  # the leaving party's relay port is freed now, not when the call ends
                await self.media.remove_leg(s.call_id, left.media_leg_id)
            except FabricError as exc:
                log.warning("media leg not released on transfer: %s", exc.error_id)
        await self._emit(s, [left], api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_TRANSFERRED)
        await self._emit(s, [s.caller], api_calls.CALL_EVENT_TRANSFERRING)
        await self._emit(s, s.ringing, api_calls.CALL_EVENT_INCOMING)

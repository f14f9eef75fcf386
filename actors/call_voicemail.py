"""The CallActor's voicemail path: when nobody answers, the callee's mailbox does.

A call whose route has voicemail (``RouteDecision.voicemail``: an extension with voicemail
on, reached directly, by forwarding or after hours) and that nobody answers - it rang out,
every target rejected it, or nothing could ring - is answered by the mailbox of
``voicemail_extension`` in the callee's tenant (``actors.mailbox``):

1. :func:`answer` checks that neither the caller nor the mailbox's owner restricted the
   processing of their data (``actors.privacy``; restricted: no recording, the call ends
   ``VOICEMAIL`` at once), asks the mailbox (``PrepareVoicemail``) whether it takes a
   message (a full mailbox does not: the call then ends ``NO_ANSWER``), reads the tenant's greeting
   (a sealed WAV) from the content store, and asks the media relay to turn the caller's
   leg into a play/record leg (``CallMediaFeatures.start_playrec``): greeting, beep, then the
   caller is recorded until they hang up, press ``#``, stay silent or reach the mailbox's
   maximum length; the relay seals the recording in the vault (class ``voicemail``) under
   the object id the mailbox chose. The call is then ANSWERED by the mailbox (the caller
   gets ANSWERED; the phones still ringing get ENDED ``voicemail``); its state keeps a
   :class:`VoicemailSession`.
2. The relay's ``PlayRecFinished`` (through the gateway's media watcher) or the call ending
   for any other reason (the caller's Hangup, media timeout, a lost party:
   :func:`before_end` stops the leg first and takes its outcome) hands the recording to
   the mailbox (``DepositMessage``, idempotent by call id), unless the caller left during
   the greeting. The call ends ``END_REASON_VOICEMAIL``, with exactly one CDR (the
   CallActor's two-phase end) whose disposition is ``voicemail``.

Without a media relay (``actors.call_media.NO_MEDIA``), or for a call without media, nothing
can be recorded: the call ends ``END_REASON_VOICEMAIL`` at once, as before mailboxes existed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from actors import call_liveness as liveness
from actors.call_media import CallMediaFeatures, NoMedia
from actors.mailbox import mailbox_address
from actors.mailbox import metrics as vm_metrics
from actors.mailbox.audio import BEEP_MS, BYTES_PER_S, WAV_HEADER_BYTES
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from actors.messages.v1 import media_events_pb2 as msg_media
from actors.privacy import restricted_or_closed
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.errors import FabricError
from fabric.media.feature_types import PlayRecFinished, PlayRecSpec, SealTarget
from fabric.vault.content import VOICEMAIL, ContentStore

if TYPE_CHECKING:
    from actors.call import CallActor

log = logging.getLogger(__name__)

__all__ = ["answer", "before_end", "on_playrec_finished"]


def _media(actor: CallActor) -> CallMediaFeatures | None:
    """The relay's play/record legs (the call's media service), None when not deployed."""
    media = actor.media
    if isinstance(media, NoMedia) or not isinstance(media, CallMediaFeatures):
        return None
    return media


async def _greeting(actor: CallActor, tenant_id: str, object_id: str) -> bytes | None:
    """The tenant's greeting WAV, or None for the relay's default prompt (also when the
    upload cannot be read: a caller hears the default rather than nothing)."""
    if not object_id:
        return None
    try:
        content = actor.ctx.service(ContentStore)
        reader = await content.open(tenant_id, VOICEMAIL, object_id)
        return await reader.read_all()
    except FabricError as exc:
        log.warning("greeting unreadable, default played: %s", exc.error_id)
        return None


async def answer(actor: CallActor, s: msg_call.LiveCallState) -> bool:
    """Have the mailbox answer the ringing call ``s``; False when it cannot (no voicemail,
    no media, a full mailbox: the caller ends the call as it would have)."""
    if not s.voicemail or not s.voicemail_extension:
        return False
    media = _media(actor)
    if media is None or not s.media or not s.caller.media_leg_id:
        vm_metrics.CALLS_NOT_RECORDED.labels(reason="no-media").inc()
        return False
    # a restricted subject (privacy: the caller, or the mailbox's owner) is not recorded;
    # the check fails closed
    owners = [t.user_id for step in s.steps for t in step.targets
              if t.extension == s.voicemail_extension]
    caller = s.caller.user_id if s.caller.tenant_id == s.callee_tenant_id else s.from_public
    if await restricted_or_closed(actor.ctx.system, s.callee_tenant_id, caller, *owners):
        vm_metrics.CALLS_NOT_RECORDED.labels(reason="restricted").inc()
        return False
    mailbox = actor.ctx.system.ref(mailbox_address(s.callee_tenant_id, s.voicemail_extension))
    try:
        plan = await mailbox.ask(
            msg_mailbox.PrepareVoicemail(call_id=s.call_id), reply=msg_mailbox.VoicemailPlan
        )
    except FabricError as exc:
        log.warning("mailbox did not answer: %s", exc.error_id)
        vm_metrics.CALLS_NOT_RECORDED.labels(reason="failed").inc()
        return False
    if not plan.accept:
        s.voicemail = False  # a full mailbox: the call rings out as no-answer
        return False
    # whose it is, for privacy requests: the caller's user (same tenant); the mailbox's
    # extension names its owner
    subjects = s.caller.user_id if s.caller.tenant_id == s.callee_tenant_id else ""
    target = SealTarget(
        tenant_id=s.callee_tenant_id,
        data_class=VOICEMAIL,
        object_id=plan.object_id,
        metadata={"call_id": s.call_id, "mailbox": s.voicemail_extension,
                  "audio_format": "wav", "subjects": subjects},
    )
    spec = PlayRecSpec(
        target=target,
        greeting=await _greeting(actor, s.callee_tenant_id, plan.greeting_object_id),
        max_seconds=float(plan.max_message_s),
        beep_ms=BEEP_MS,
    )
    try:
        await media.start_playrec(s.call_id, s.caller.media_leg_id, spec)
    except FabricError as exc:
        log.warning("voicemail leg refused: %s", exc.error_id)
        vm_metrics.CALLS_NOT_RECORDED.labels(reason="failed").inc()
        return False
    await _answered_by_mailbox(actor, s, plan.object_id)
    return True


async def _answered_by_mailbox(
    actor: CallActor, s: msg_call.LiveCallState, object_id: str
) -> None:
    now = int(actor.ctx.clock.now() * 1000)
    ringing = list(s.ringing)
    if s.state == api_calls.CALL_STATE_RINGING and s.steps:
        await actor.ctx.cancel_reminder(f"ring-{s.step_index}")
    s.state = api_calls.CALL_STATE_ANSWERED
    s.answered.CopyFrom(msg_call.Leg(tenant_id=s.callee_tenant_id, extension=s.voicemail_extension))
    s.answered_at_ms = s.answered_at_ms or now
    del s.ringing[:]
    s.voicemail_session.CopyFrom(
        msg_mailbox.VoicemailSession(
            tenant_id=s.callee_tenant_id,
            mailbox_id=s.voicemail_extension,
            object_id=object_id,
            leg_id=s.caller.media_leg_id,
            started_at_ms=now,
            active=True,
        )
    )
    liveness.start_session(s, now)
    await actor.ctx.set_reminder(liveness.SESSION_REMINDER, actor.timers.refresh_interval_s)
    await actor.ctx.save_state(s)
    await actor._emit(s, [s.caller], api_calls.CALL_EVENT_ANSWERED)
    await actor._emit(s, ringing, api_calls.CALL_EVENT_ENDED, api_calls.END_REASON_VOICEMAIL)


async def _deposit(
    actor: CallActor,
    s: msg_call.LiveCallState,
    recorded: bool,
    ended_by: str,
    duration_ms: int,
    audio_bytes: int,
    started_at_ms: int,
) -> None:
    """Hand a sealed recording to the mailbox; end the session (never raises)."""
    vs = s.voicemail_session
    vs.active = False
    if not recorded:
        vm_metrics.CALLS_NOT_RECORDED.labels(
            reason="hangup-in-greeting" if ended_by == "hangup-in-greeting" else "failed"
        ).inc()
        return
    deposit = msg_mailbox.DepositMessage(
        call_id=s.call_id,
        object_id=vs.object_id,
        received_at_ms=started_at_ms,
        duration_ms=duration_ms,
        audio_bytes=audio_bytes,
        ended_by=ended_by,
    )
    setattr(deposit, "from", getattr(s, "from") if vs.tenant_id == s.tenant_id else s.from_public)
    try:
        await actor.ctx.system.ref(mailbox_address(vs.tenant_id, vs.mailbox_id)).ask(
            deposit, reply=msg_mailbox.Deposited
        )
    except FabricError as exc:  # the object stays sealed; the mailbox can be told again
        log.error("voicemail deposit failed: %s", exc.error_id)


async def _deposit_what_was_sealed(actor: CallActor, s: msg_call.LiveCallState) -> None:
    """No outcome from the relay: keep the recording if one was sealed (its length from its
    size), so a message is never lost to a race between '#' and a hang-up."""
    vs = s.voicemail_session
    try:
        info = await actor.ctx.service(ContentStore).info(vs.tenant_id, VOICEMAIL, vs.object_id)
    except FabricError:
        await _deposit(actor, s, False, "failed", 0, 0, 0)
        return
    pcm = max(0, info.size - WAV_HEADER_BYTES)
    await _deposit(actor, s, True, "hangup", pcm * 1000 // BYTES_PER_S, pcm, 0)


async def before_end(
    actor: CallActor, s: msg_call.LiveCallState, reason: api_calls.EndReason.ValueType
) -> api_calls.EndReason.ValueType:
    """Called first thing when the call ends: a call a mailbox answered stops its leg,
    deposits what was recorded and ends ``VOICEMAIL`` whatever ended it."""
    vs = s.voicemail_session
    if not vs.active:
        return reason
    outcome: PlayRecFinished | None = None
    media = _media(actor)
    if media is not None:
        try:
            outcome = await media.stop_playrec(s.call_id, vs.leg_id)
        except FabricError as exc:
            log.warning("voicemail leg not stopped: %s", exc.error_id)
    if outcome is None:  # ended by itself meanwhile (its event in flight), or relay lost
        await _deposit_what_was_sealed(actor, s)
    else:
        ended_by = "hangup" if outcome.reason == "stopped" else str(outcome.reason)
        await _deposit(
            actor, s, outcome.recorded, ended_by, outcome.duration_ms,
            outcome.bytes, outcome.record_started_at_ms,
        )
    return api_calls.END_REASON_VOICEMAIL


async def on_playrec_finished(actor: CallActor, msg: msg_media.PlayRecFinished) -> None:
    """The relay's play/record leg ended by itself (#, silence, maximum length, or the
    caller's media gone): deposit, then end the call ``VOICEMAIL``. A duplicate or late
    event (the call already ended) is ignored."""
    s = actor.state
    if s is None:
        actor.ctx.deactivate_after_turn()
        return
    vs = s.voicemail_session
    if not vs.active or msg.leg_id != vs.leg_id or s.state == api_calls.CALL_STATE_ENDED:
        return
    ended_by = _END_NAMES.get(msg.reason, "failed")
    await _deposit(
        actor, s, msg.recorded, ended_by, msg.duration_ms, msg.audio_bytes,
        msg.record_started_at_ms,
    )
    await actor._end(s, api_calls.END_REASON_VOICEMAIL)


_END_NAMES = {
    msg_media.PLAY_REC_END_REASON_HANGUP: "hangup",
    msg_media.PLAY_REC_END_REASON_HANGUP_IN_GREETING: "hangup-in-greeting",
    msg_media.PLAY_REC_END_REASON_DTMF: "dtmf",
    msg_media.PLAY_REC_END_REASON_MAX_LENGTH: "max-length",
    msg_media.PLAY_REC_END_REASON_SILENCE: "silence",
    msg_media.PLAY_REC_END_REASON_STOPPED: "hangup",
    msg_media.PLAY_REC_END_REASON_FAILED: "failed",
}
"""PlayRecFinished.reason -> how the message's recording ended (VoicemailMessage.ended_by)."""

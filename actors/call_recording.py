"""The call actor's recording logic: policy, consent, pause on hold, objection, the CDR's part.

A mixin of :class:`actors.call.CallActor` (handlers for ``RecordingOp``, ``DtmfDetected``
and ``ForkFinished``, and four hooks the state machine calls: answered, hold/resume,
transfer, end). The audio itself is the media relay's recording fork
(``CallMediaFeatures.start_fork`` and friends, ``fabric.media``): the decrypted audio of both
directions, one channel per party, time-aligned, sealed in the vault (class ``recording``,
object id = the recording id); this module decides when it runs and writes down why.

Rules:

- **Policy** (``actors.recording_policy``, per extension): an answered call whose caller's or
  answerer's extension is ``RECORDING_ALWAYS`` starts recording at the answer (consent source
  ``extension-policy``). ``StartRecording`` / ``StopRecording`` (a party of the call, or an
  owner/admin of a party's tenant) are allowed where an extension of the requester's tenant
  on the call is ``ON_DEMAND`` or ``ALWAYS`` (else ``recording-not-allowed``); a member needs
  it on their own extension (else ``recording-not-allowed-for-you``). Consent source
  ``call-request``, with the requester's user id.
- **Privacy**: no recording of a party whose tenant restricted processing of them
  (``actors.privacy.restrictions``; a check that cannot answer counts as restricted).
- **Consent**: every recording begins with the announcement to every party (the tenant's
  prompt from ``RecordingSettingsActor``, else the relay's shipped one); its start time goes
  into the CDR. With the tenant's ``all_party_consent``, a party that presses the objection
  key (DTMF from the relay) stops the recording at once; the objection (the party's
  extension and when) is kept in the recording's metadata and the CDR, and no further
  recording of the call may start.
- **Hold** pauses the fork (nothing is recorded while held) and resume resumes it; a blind
  transfer stops it (the recorded party left); the end of the call stops and seals it
  before the relay session is released, so the CDR has the recording's figures.
- The recording's metadata goes to the tenant's ``RecordingIndex`` (``actors.recording_index``)
  when it starts and when it stops; the call's state keeps what the CDR needs.

The recorder is the relays' fork behind the ``CallMedia`` host service
(``actors.call_media.CallMediaFeatures``): with no relays, or a call without media, recording
is ``recording-unavailable`` and a policy start is skipped (``recorded = false``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from actors import recording_metrics as metrics
from actors.call_media import CallMedia, CallMediaFeatures
from actors.call_parties import party_side
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import media_events_pb2 as msg_media
from actors.messages.v1 import recording_pb2 as msg_rec
from actors.privacy.restrictions import restricted_or_closed
from actors.recording_index import (
    CONSENT_SLUG,
    index_address,
    new_recording_id,
    settings_address,
)
from actors.recording_policy import ALWAYS, ON_DEMAND
from fabric.actor import handler
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.errors import (
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from fabric.media.feature_types import ForkSpec, SealTarget
from fabric.vault.content import RECORDING

log = logging.getLogger(__name__)

ACTIVE = api_rec.RECORDING_ACTIVE
PAUSED = api_rec.RECORDING_PAUSED
STOPPED = api_rec.RECORDING_STOPPED
_LIVE = (api_calls.CALL_STATE_ANSWERED, api_calls.CALL_STATE_HELD)
__all__ = ["CallRecording"]


def _party_names(s: msg_call.LiveCallState, tenant_id: str) -> list[str]:
    """How the recording's tenant names the two parties: its own extensions; a party in
    another tenant by public number (the caller's tenant's, or the number dialled), never
    that tenant's internal extension."""
    caller = s.caller.extension if s.caller.tenant_id == tenant_id else s.from_public
    callee = s.answered.extension if s.answered.tenant_id == tenant_id else s.to
    return [caller, callee]


def _permits(leg: msg_call.Leg, policies: tuple[int, ...] = (ALWAYS, ON_DEMAND)) -> bool:
    return bool(leg.extension) and leg.recording_policy in policies


class CallRecording:
    """Recording handlers and hooks of the CallActor (see the module docstring)."""

    # provided by the CallActor
    ctx: Any
    state: msg_call.LiveCallState | None

    def _now_ms(self) -> int:
        raise NotImplementedError  # the CallActor's

    # ---- the media side ---------------------------------------------------------------

    def _recorder(self, s: msg_call.LiveCallState) -> CallMediaFeatures | None:
        """The relays' fork (the CallMedia service), or None: no relay, or no media legs."""
        if not s.media or not s.caller.media_leg_id or not s.answered.media_leg_id:
            return None
        try:
            media = self.ctx.service(CallMedia)  # type: ignore[type-abstract]
        except FabricError:
            return None
        return media if isinstance(media, CallMediaFeatures) else None

    # ---- hooks the call's state machine calls -----------------------------------------

    async def _recording_on_answer(self, s: msg_call.LiveCallState) -> None:
        """The call was answered: start recording when a party's extension says ALWAYS."""
        for leg in (s.caller, s.answered):
            if _permits(leg, (ALWAYS,)):
                try:
                    await self._start_recording(
                        s, leg.tenant_id, api_rec.CONSENT_EXTENSION_POLICY, ""
                    )
                except FabricError as exc:  # the call goes on unrecorded
                    metrics.REFUSED.labels(reason=exc.error_id).inc()
                    log.info("policy recording not started: %s", exc.error_id)
                return

    async def _recording_on_hold(self, s: msg_call.LiveCallState, hold: bool) -> None:
        """Pause the recording while the call is held; resume with it."""
        current = s.recording.current
        if not current.recording_id or current.state == STOPPED:
            return
        recorder = self._recorder(s)
        if recorder is None:
            return
        try:
            if hold:
                await recorder.pause_fork(s.call_id)
            else:
                await recorder.resume_fork(s.call_id)
        except FabricError as exc:
            log.warning("recording %s failed: %s", "pause" if hold else "resume", exc.error_id)
            return
        current.state = PAUSED if hold else ACTIVE
        await self.ctx.save_state(s)
        await self._index(s)

    async def _recording_on_leave(self, s: msg_call.LiveCallState, reason: str) -> None:
        """A party left (transfer) or the call is ending: stop and seal the recording."""
        await self._stop_recording(s, reason)

    # ---- public requests ----------------------------------------------------------------

    @handler
    async def on_recording_op(self, msg: msg_rec.RecordingOp) -> api_rec.Recording:
        """StartRecording / StopRecording by a party of the call or an admin."""
        s = self.state
        if s is None:
            self.ctx.deactivate_after_turn()
            raise _no_call()
        p = msg.principal
        party_side(s, p)  # NotFound for anyone who is not a party (or an admin of one)
        which = msg.WhichOneof("op")
        if which is None:
            raise InvalidArgument("empty recording request", error_id="empty-request")
        if s.state not in _LIVE:
            raise FailedPrecondition(
                "only an answered call can be recorded", error_id="call-not-answered"
            )
        self._check_right(s, p)
        if which == "stop":
            current = s.recording.current
            if not current.recording_id or current.state == STOPPED:
                raise FailedPrecondition(
                    "the call is not being recorded", error_id="recording-not-active"
                )
            await self._stop_recording(s, "request")
            return s.recording.current
        try:
            await self._start_recording(s, p.tenant_id, api_rec.CONSENT_CALL_REQUEST, p.user_id)
        except FabricError as exc:
            metrics.REFUSED.labels(reason=exc.error_id).inc()
            raise
        return s.recording.current

    def _check_right(self, s: msg_call.LiveCallState, p: msg_common.Principal) -> None:
        legs = [leg for leg in (s.caller, s.answered) if leg.tenant_id == p.tenant_id]
        if not any(_permits(leg) for leg in legs):
            metrics.REFUSED.labels(reason="recording-not-allowed").inc()
            raise FailedPrecondition(
                "no extension of your tenant on this call allows recording; an admin sets "
                "its recording policy to on-demand or always (`fabric ext set EXT "
                "--recording on-demand`)",
                error_id="recording-not-allowed",
            )
        if p.role == api_common.ROLE_MEMBER and not any(
            _permits(leg) for leg in legs if leg.user_id == p.user_id
        ):
            metrics.REFUSED.labels(reason="recording-not-allowed-for-you").inc()
            raise PermissionDenied(
                "your own extension on this call does not allow recording; ask an admin",
                error_id="recording-not-allowed-for-you",
            )

    # ---- media events -----------------------------------------------------------------

    @handler
    async def on_dtmf_detected(self, msg: msg_media.DtmfDetected) -> None:
        """A party pressed a key: the objection key stops a recording that needs consent."""
        s = self.state
        if s is None:
            self.ctx.deactivate_after_turn()  # the call is over: nothing to stop
            return
        if s.state not in _LIVE:
            return
        r = s.recording
        if not r.all_party_consent or msg.digit != r.objection_digit:
            return
        if not r.current.recording_id or r.current.state == STOPPED:
            return
        if msg.leg_id not in (s.caller.media_leg_id, s.answered.media_leg_id):
            return
        side = "caller" if msg.leg_id == s.caller.media_leg_id else "callee"
        r.objected_by = side
        r.current.objected_by = _party_names(s, r.current.tenant_id)[side == "callee"]
        r.current.objected_at_ms = self._now_ms()
        log.info("a party objected to the recording; stopping it")
        await self._stop_recording(s, "objection")

    @handler
    async def on_fork_finished(self, msg: msg_media.ForkFinished) -> None:
        """The relay ended a fork by itself (sealing failed): the recording is over."""
        s = self.state
        if s is None:
            self.ctx.deactivate_after_turn()  # (the copy of what stop_fork returned at the end)
            return
        if s.state not in _LIVE:
            return
        current = s.recording.current
        if current.recording_id != msg.object.object_id or current.state == STOPPED:
            return  # a duplicate of what stop_fork already returned
        self._finish(s, msg.audio_bytes, msg.duration_ms, "failed" if msg.error_id else "relay")
        await self.ctx.save_state(s)
        await self._index(s)

    # ---- start and stop -----------------------------------------------------------------

    async def _start_recording(
        self,
        s: msg_call.LiveCallState,
        tenant_id: str,
        consent: api_rec.ConsentSource.ValueType,
        requested_by: str,
    ) -> None:
        r = s.recording
        if r.current.recording_id and r.current.state != STOPPED:
            raise FailedPrecondition("the call is already being recorded",
                                     error_id="recording-active")
        if r.objected_by:
            raise FailedPrecondition(
                "a party of this call objected to recording it", error_id="recording-objected"
            )
        recorder = self._recorder(s)
        if recorder is None:
            raise FailedPrecondition(
                "this call has no media through the fabric's relay, so it cannot be recorded",
                error_id="recording-unavailable",
            )
        subjects = [leg.user_id for leg in (s.caller, s.answered) if leg.tenant_id == tenant_id]
        if await restricted_or_closed(self.ctx.system, tenant_id, *subjects):
            raise FailedPrecondition(
                "a party of this call has restricted the processing of their data",
                error_id="recording-restricted",
            )
        settings = await self.ctx.system.ref(settings_address(tenant_id)).ask(
            msg_rec.GetRecordingSettingsState(), reply=msg_rec.RecordingSettingsState
        )
        now = self._now_ms()
        sequence = r.sequence + 1
        recording_id = new_recording_id(s.call_id, now, sequence)
        legs = (s.caller.media_leg_id, s.answered.media_leg_id)
        target = SealTarget(
            tenant_id=tenant_id,
            data_class=RECORDING,
            object_id=recording_id,
            metadata={
                "call_id": s.call_id,
                "subjects": ",".join(u for u in subjects if u),
                "extensions": ",".join(_party_names(s, tenant_id)),
                "audio_format": "wav",
                "channels": str(len(legs)),
                "sample_rate": "8000",
            },
        )
        spec = ForkSpec(target=target, legs=legs, announcement=settings.announcement_wav or None)
        info = await recorder.start_fork(s.call_id, spec)
        if s.state == api_calls.CALL_STATE_HELD:
            with contextlib.suppress(FabricError):
                await recorder.pause_fork(s.call_id)
        announced = info.announced_at_ms or now
        r.sequence = sequence
        r.recording_ids.append(recording_id)
        if len(r.recording_ids) == 1:
            r.consent = consent
            r.requested_by = requested_by
            r.announced_at_ms = announced
            r.tenant_id = tenant_id
        r.all_party_consent = settings.all_party_consent
        r.objection_digit = settings.objection_digit
        r.current.CopyFrom(api_rec.Recording(
            recording_id=recording_id,
            call_id=s.call_id,
            tenant_id=tenant_id,
            extensions=_party_names(s, tenant_id),
            started_at_ms=now,
            state=PAUSED if s.state == api_calls.CALL_STATE_HELD else ACTIVE,
            consent=consent,
            requested_by=requested_by,
            announced_at_ms=announced,
            channels=len(legs),
        ))
        await self.ctx.save_state(s)
        metrics.STARTED.labels(consent=CONSENT_SLUG[consent]).inc()
        metrics.ACTIVE.inc()
        await self._index(s)

    async def _stop_recording(self, s: msg_call.LiveCallState, reason: str) -> None:
        current = s.recording.current
        if not current.recording_id or current.state == STOPPED:
            return
        recorder = self._recorder(s)
        audio_bytes, duration_ms = 0, 0
        if recorder is not None:
            try:
                info = await recorder.stop_fork(s.call_id)
                audio_bytes, duration_ms = info.bytes, info.duration_ms
            except FabricError as exc:
                log.warning("recording not sealed: %s", exc.error_id)
                reason = "failed"
        self._finish(s, audio_bytes, duration_ms, reason)
        await self.ctx.save_state(s)
        await self._index(s)

    def _finish(
        self, s: msg_call.LiveCallState, audio_bytes: int, duration_ms: int, reason: str
    ) -> None:
        current = s.recording.current
        current.state = STOPPED
        current.ended_at_ms = self._now_ms()
        current.audio_bytes = audio_bytes
        current.duration_s = duration_ms / 1000
        metrics.ACTIVE.dec()
        metrics.BYTES.inc(audio_bytes)
        metrics.STOPPED.labels(reason=reason).inc()

    async def _index(self, s: msg_call.LiveCallState) -> None:
        """Tell the tenant's index the recording's metadata (a lost update is retried at the
        next change; the audio and the CDR do not depend on it)."""
        current = s.recording.current
        entry = msg_rec.IndexedRecording(
            recording=current,
            user_ids=[
                leg.user_id for leg in (s.caller, s.answered)
                if leg.user_id and leg.tenant_id == current.tenant_id
            ],
        )
        address = index_address(current.tenant_id, current.started_at_ms)  # = the id's month
        try:
            await self.ctx.system.ref(address).ask(msg_rec.PutRecording(entry=entry))
        except FabricError as exc:
            log.warning("recording index not updated: %s", exc.error_id)


def _no_call() -> FabricError:
    return NotFound("no such call", error_id="call-not-found")

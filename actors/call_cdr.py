"""A call's CDR, built from its ended state, and the end reasons' dispositions and labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from actors.messages.v1 import call_pb2 as msg_call
from actors.recording_index import CONSENT_SLUG
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.cdr import Cdr, Direction, Disposition

DISPOSITION = {
    api_calls.END_REASON_COMPLETED: (Disposition.ANSWERED, "normal-clearing"),
    api_calls.END_REASON_NO_ANSWER: (Disposition.NO_ANSWER, "ring-timeout"),
    api_calls.END_REASON_VOICEMAIL: (Disposition.VOICEMAIL, "ring-timeout"),
    api_calls.END_REASON_REJECTED: (Disposition.REJECTED, "rejected"),
    api_calls.END_REASON_CANCELLED: (Disposition.NO_ANSWER, "caller-cancelled"),
    api_calls.END_REASON_FAILED: (Disposition.FAILED, "error"),
    api_calls.END_REASON_MEDIA_TIMEOUT: (Disposition.ANSWERED, "media-timeout"),
    api_calls.END_REASON_PARTY_LOST: (Disposition.ANSWERED, "party-lost"),
    api_calls.END_REASON_SESSION_EXPIRED: (Disposition.ANSWERED, "session-expired"),
    api_calls.END_REASON_MAX_DURATION: (Disposition.ANSWERED, "max-duration"),
}
"""End reason -> (CDR disposition, hangup cause)."""

REASON_LABEL = {
    api_calls.END_REASON_COMPLETED: "completed",
    api_calls.END_REASON_NO_ANSWER: "no-answer",
    api_calls.END_REASON_VOICEMAIL: "voicemail",
    api_calls.END_REASON_REJECTED: "rejected",
    api_calls.END_REASON_CANCELLED: "cancelled",
    api_calls.END_REASON_FAILED: "failed",
    api_calls.END_REASON_MEDIA_TIMEOUT: "media-timeout",
    api_calls.END_REASON_PARTY_LOST: "party-lost",
    api_calls.END_REASON_SESSION_EXPIRED: "session-expired",
    api_calls.END_REASON_MAX_DURATION: "max-duration",
}
"""End reason -> the ``reason`` label of the calls-ended metric."""


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def build_cdr(s: msg_call.LiveCallState) -> Cdr:
    """The call's CDR, from its ended state."""
    disposition, cause = DISPOSITION.get(s.end_reason, (Disposition.FAILED, "error"))
    if disposition is Disposition.ANSWERED and not s.answered_at_ms:
        disposition = Disposition.FAILED
    if s.direction == "internal":
        direction = Direction.INTERNAL
    else:
        direction = Direction.OUTBOUND
    answer = _utc(s.answered_at_ms) if s.answered_at_ms else None
    talk = max(0, (s.ended_at_ms - s.answered_at_ms) // 1000) if s.answered_at_ms else 0
    return Cdr(
        call_id=s.call_id,
        tenant_id=s.tenant_id,
        from_number=s.__getattribute__("from"),
        to_number=s.to,
        direction=direction,
        start_time=_utc(s.started_at_ms),
        end_time=_utc(max(s.ended_at_ms, s.started_at_ms)),
        disposition=disposition,
        hangup_cause=cause,
        answer_time=answer,
        duration_s=talk,
        billable_s=talk,
        packets_sent=s.packets_sent,
        packets_received=s.packets_received,
        packets_lost=s.packets_lost,
        jitter_ms=s.jitter_ms,
        **_recording(s),
    )


def _recording(s: msg_call.LiveCallState) -> dict[str, Any]:
    """The CDR's recording fields, from the call's recording state (actors.call_recording)."""
    r = s.recording
    if not r.recording_ids:
        return {}
    announced = min(max(r.announced_at_ms, s.started_at_ms), max(s.ended_at_ms, s.started_at_ms))
    return {
        "recorded": True,
        "recording_consent": CONSENT_SLUG.get(r.consent, "call-request"),
        "recording_requested_by": r.requested_by,
        "recording_announced_at": _utc(announced) if r.announced_at_ms else None,
        "recording_ids": tuple(r.recording_ids),
        "recording_objection": r.objected_by,
    }

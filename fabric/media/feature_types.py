"""Plain, picklable values of the relay's media features: play/record legs and recording forks.

These cross Ray method calls between the control plane (the call and mailbox actors, the
recording policy) and a media relay, so they are frozen dataclasses of builtins. Audio
bytes are excluded from ``repr`` (a logged spec never shows a tenant's greeting).

Two features share the relay's new machinery (:mod:`fabric.media.playrec`,
:mod:`fabric.media.fork`):

- a **play/record leg** (voicemail): the caller's leg is terminated at the relay; it hears
  a greeting, a beep, and is recorded (mono) until it hangs up, a maximum length, sustained
  silence or an end digit (RFC 4733 ``#``);
- a **recording fork** (call recording): the decrypted audio of every party of a bridged
  call is copied, one channel per party and time-aligned, to a sealed recording, without
  the forwarding path ever waiting for it.

Both seal a WAV (16-bit PCM, 8 kHz) into the vault's content store under the (tenant,
class, object id) the control plane gives; outcomes arrive as events
(:class:`PlayRecFinished`, :class:`ForkFinished`, :class:`DtmfDetected`) which
``actors.media_watch`` delivers to the call's actor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

DEFAULT_GREETING = "default-greeting"  # a shipped prompt (fabric/media/prompts/)
DEFAULT_ANNOUNCEMENT = "default-recording-announcement"
DTMF_PAYLOAD_TYPE = 101  # RFC 4733 telephone-event: the fixed dynamic payload type we use


class Codec(enum.StrEnum):
    """G.711 variants a leg may carry (RTP payload types 0 and 8)."""

    PCMU = "pcmu"  # µ-law, payload type 0
    PCMA = "pcma"  # A-law, payload type 8


class PlayRecEnd(enum.StrEnum):
    """Why a play/record leg ended (the event's ``reason``; a metric label)."""

    HANGUP = "hangup"  # the caller hung up / the leg or session was removed while recording
    HANGUP_IN_GREETING = "hangup-in-greeting"  # left before the beep ended: nothing recorded
    DTMF = "dtmf"  # an end digit (default '#')
    MAX_LENGTH = "max-length"  # the recording reached ``max_seconds`` (cut exactly there)
    SILENCE = "silence"  # no voiced frame for ``silence_seconds``
    STOPPED = "stopped"  # the control plane stopped it (stop_playrec)
    FAILED = "failed"  # sealing failed (``error_id`` says why); nothing was stored


class ForkEnd(enum.StrEnum):
    """Why a recording fork ended."""

    STOPPED = "stopped"  # stop_fork
    CALL_ENDED = "call-ended"  # the session was released while recording
    FAILED = "failed"  # sealing failed (``error_id`` says why)


@dataclass(frozen=True, slots=True)
class SealTarget:
    """Where a recording is sealed: the content store's name of the object (the control
    plane chooses it; ``object_id`` must be new) and the sealed metadata stored with it."""

    tenant_id: str
    data_class: str  # "voicemail" or "recording"
    object_id: str
    metadata: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class PlayRecSpec:
    """What a play/record leg plays and how long it records.

    ``greeting``: WAV bytes (any WAV PyAV reads; 8 kHz mono 16-bit PCM used as is), e.g. a
    tenant's greeting the control plane read from the vault; ``None`` plays the shipped
    ``greeting_prompt``. ``beep_ms = 0`` plays no beep. Recording starts when the beep ends;
    a caller who leaves before leaves no object. ``silence_seconds = 0`` disables the
    silence end; ``silence_level`` is the mean absolute sample value (0..32767) under which
    a 20 ms frame counts as silent (500 is about -36 dBFS).
    """

    target: SealTarget
    codec: Codec = Codec.PCMU  # what the prompts are encoded to (inbound: by payload type)
    greeting: bytes | None = field(default=None, repr=False)
    greeting_prompt: str = DEFAULT_GREETING
    beep_ms: int = 400
    max_seconds: float = 180.0
    silence_seconds: float = 10.0
    silence_level: int = 500
    end_digits: str = "#"
    dtmf_payload_type: int = DTMF_PAYLOAD_TYPE


@dataclass(frozen=True, slots=True)
class PlayRecInfo:
    """The answer of ``start_playrec``: it runs; its outcome comes as :class:`PlayRecFinished`."""

    call_id: str
    leg_id: str
    greeting_ms: int  # greeting + beep length: recording starts this long after the start


@dataclass(frozen=True, slots=True)
class ForkSpec:
    """A recording fork of a bridged call.

    ``legs``: the channel order (one channel per leg id; legs added later are not
    recorded); empty = the session's legs in the order they were added. ``announcement``:
    WAV bytes (a tenant's prompt), else the shipped ``announcement_prompt``; "" as prompt
    name with no bytes plays none. While the announcement plays the parties hear only it
    (forwarding between them resumes right after); every channel of the recording starts
    with it, then the parties' audio from the moment it ended.
    """

    target: SealTarget
    legs: tuple[str, ...] = ()
    codec: Codec = Codec.PCMU
    announcement: bytes | None = field(default=None, repr=False)
    announcement_prompt: str = DEFAULT_ANNOUNCEMENT
    dtmf_payload_type: int = DTMF_PAYLOAD_TYPE


@dataclass(frozen=True, slots=True)
class ForkInfo:
    """A fork's state: returned by start/pause/resume/stop and in :class:`ForkFinished`.

    ``bytes`` counts the WAV's PCM bytes (header excluded); ``duration_ms`` the recorded
    timeline (paused spans excluded, announcement included); ``drops`` the frames the
    recorder could not take because it fell behind (forwarding never waits for it).
    """

    call_id: str
    object_id: str
    channels: tuple[str, ...]  # leg id of each channel, in order
    state: str  # "announcing" | "recording" | "paused" | "stopped" | "failed"
    announced_at_ms: int = 0  # unix ms the announcement started (0 = none played)
    started_at_ms: int = 0  # unix ms the fork started
    bytes: int = 0
    duration_ms: int = 0
    drops: int = 0
    error_id: str = ""


@dataclass(frozen=True, slots=True)
class PlayRecFinished:
    """Event: a play/record leg ended (exactly once per ``start_playrec``)."""

    call_id: str
    leg_id: str
    reason: PlayRecEnd
    recorded: bool  # an object was sealed under ``target``
    target: SealTarget
    samples: int  # recorded samples (8 kHz)
    duration_ms: int
    bytes: int  # PCM bytes sealed (header excluded)
    record_started_at_ms: int = 0  # unix ms recording began (0 = never)
    error_id: str = ""


@dataclass(frozen=True, slots=True)
class DtmfDetected:
    """Event: a party pressed a key (RFC 4733, reported once per key press)."""

    call_id: str
    leg_id: str
    digit: str  # 0-9 * # A-D
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ForkFinished:
    """Event: a recording fork ended (stopped, call ended, failed) and was sealed (or not)."""

    info: ForkInfo
    reason: ForkEnd
    recorded: bool


MediaEvent = PlayRecFinished | DtmfDetected | ForkFinished

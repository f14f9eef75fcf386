"""Plain, picklable values exchanged with the media plane.

These cross Ray method calls between the call actor and a media relay, so they are frozen
dataclasses of builtins. Fields holding key bytes are excluded from ``repr`` so a logged
offer or answer never shows a key.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

TIMEOUT_REASON = "media-timeout"


class DropReason(enum.StrEnum):
    """Why the relay dropped a packet (the ``reason`` label of the drop counter)."""

    AUTH_FAILED = "auth-failed"  # bad tag, wrong key, or plain (unprotected) RTP
    REPLAY = "replay"  # sequence already seen or too old
    UNEXPECTED_SOURCE = "unexpected-source"  # not the latched address of the leg
    MALFORMED = "malformed"  # too short, not RTP version 2, garbage
    NO_PEER = "no-peer"  # authenticated, but no other leg has latched yet


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Where a call's relay session lives."""

    call_id: str
    relay_index: int
    relay_host: str


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """A client's SDES offer for one leg: its suite and the key it will encrypt with, and
    optionally the UDP address it receives on (the relay sends there before it hears it)."""

    suite: str
    master_key: bytes = field(repr=False)
    master_salt: bytes = field(repr=False)
    rtp_host: str = field(default="", repr=False)  # an IP literal; "" = learn by latching
    rtp_port: int = 0


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """The relay's answer for one leg: where to send, and the key the relay encrypts with."""

    relay_host: str
    relay_port: int
    suite: str
    master_key: bytes = field(repr=False)
    master_salt: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class LegStats:
    """Counters of one leg, as seen by the relay.

    ``packets_in``/``bytes_in`` count authenticated RTP from the client (bytes of RTP
    payload+header after decryption); ``packets_out``/``bytes_out`` what the relay sent to
    it. ``packets_lost`` and ``jitter_ms`` follow RFC 3550 on the inbound stream (8 kHz
    clock). ``drops`` maps a :class:`DropReason` value to a count.
    """

    leg_id: str
    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    rtcp_in: int
    rtcp_out: int
    packets_lost: int
    jitter_ms: float
    drops: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for the CDR)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MediaStatsReport:
    """The media statistics of a call, per leg; written into the call's CDR."""

    call_id: str
    legs: list[LegStats]
    timed_out: bool = False

    def cdr_fields(self) -> dict[str, Any]:
        """The call-level media fields of a CDR (``fabric.cdr.Cdr``), summed over legs.

        ``packets_received``: authenticated RTP the relay got from the clients;
        ``packets_sent``: RTP it delivered to them; ``packets_lost``: what the relay could
        not deliver: the legs' inbound losses (RFC 3550: sent by a client, never arrived)
        plus authenticated packets it had nowhere to send (``no-peer``: the other party's
        address was not known yet); ``jitter_ms``: the worst leg's inbound jitter.
        """
        no_peer = DropReason.NO_PEER.value
        return {
            "packets_sent": sum(leg.packets_out for leg in self.legs),
            "packets_received": sum(leg.packets_in for leg in self.legs),
            "packets_lost": sum(leg.packets_lost + leg.drops.get(no_peer, 0) for leg in self.legs),
            "jitter_ms": max((leg.jitter_ms for leg in self.legs), default=0.0),
        }

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for the CDR)."""
        return {
            "call_id": self.call_id,
            "timed_out": self.timed_out,
            "legs": [leg.to_dict() for leg in self.legs],
        }


@dataclass(frozen=True, slots=True)
class LegStatus:
    """One leg's liveness."""

    leg_id: str
    kind: str  # "sdes" or "webrtc"
    latched: bool
    seconds_since_last_packet: float | None


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """A session's state; ``timed_out`` means the call should end with ``reason``."""

    call_id: str
    legs: list[LegStatus]
    timed_out: bool
    reason: str | None
    timed_out_leg: str | None
    stats: MediaStatsReport

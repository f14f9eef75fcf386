"""The media plane: SRTP relay sessions re-encrypting per leg, and the Ray actor hosting relays.

Public names: the values exchanged with a relay (:mod:`fabric.media.types`), the suites
(:mod:`fabric.media.suites`), the relay engine (:mod:`fabric.media.engine`), the Ray actor
that hosts relays and the control client calls use (:mod:`fabric.media.relay_actor`) and the
WebRTC leg bridge (:mod:`fabric.media.webrtc`, imported on demand because aiortc is heavy).
What a client runs (softphone media, the WebRTC phone) lives in :mod:`fabric.client`.
"""

from fabric.media.suites import SrtpSuite
from fabric.media.types import (
    TIMEOUT_REASON,
    DropReason,
    LegStats,
    LegStatus,
    MediaAnswer,
    MediaOffer,
    MediaStatsReport,
    SessionInfo,
    SessionStatus,
)

__all__ = [
    "TIMEOUT_REASON",
    "DropReason",
    "LegStats",
    "LegStatus",
    "MediaAnswer",
    "MediaOffer",
    "MediaStatsReport",
    "SessionInfo",
    "SessionStatus",
    "SrtpSuite",
]

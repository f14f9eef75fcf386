"""The media plane: SRTP relay sessions re-encrypting per leg, and the softphone client.

Public names: the values exchanged with a relay (:mod:`fabric.media.types`), the suites
(:mod:`fabric.media.suites`), the relay engine (:mod:`fabric.media.engine`, hosted by the
media relay Ray actor in ``actors.media``), the softphone media client
(:mod:`fabric.media.softphone`) and the WebRTC leg bridge (:mod:`fabric.media.webrtc`,
imported on demand because aiortc is heavy).
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

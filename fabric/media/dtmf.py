"""RFC 4733 telephone-events (DTMF) in RTP: parsing, building, and one report per key press.

A key press is sent as a run of RTP packets with the same RTP timestamp (the event's start)
and a growing duration; the last one has the E (end) bit and is usually sent three times
(RFC 4733 §2.5.1.4). :class:`DtmfDetector` reports a key once, at its first end packet, and
ignores the redundant ends (same timestamp). If every end packet is lost, the key is still
reported when the next event (another timestamp) begins, or by :meth:`DtmfDetector.flush`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENT_DIGITS = "0123456789*#ABCD"  # events 0..15 (RFC 4733 §3.2)
_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload."""

    event: int
    end: bool
    volume: int
    duration: int  # in RTP timestamp units (8 kHz)

    @property
    def digit(self) -> str | None:
        """The key (0-9 * # A-D), or None for a non-DTMF event."""
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None


def parse_event(payload: bytes) -> TelephoneEvent | None:
    """Parse a 4-byte telephone-event payload; None if it is too short."""
    if len(payload) < 4:
        return None
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_event(digit: str, end: bool, duration: int, volume: int = 10) -> bytes:
    """A telephone-event payload for ``digit`` (for tests and the softphone)."""
    event = EVENT_DIGITS.index(digit.upper())
    return _EVENT.pack(event, (0x80 if end else 0) | (volume & 0x3F), duration & 0xFFFF)


@dataclass(frozen=True, slots=True)
class KeyPress:
    """A reported key press."""

    digit: str
    duration_ms: int


class DtmfDetector:
    """Turns one stream's telephone-event packets into one :class:`KeyPress` per key."""

    __slots__ = ("_current_ts", "_current", "_reported_ts")

    def __init__(self) -> None:
        self._current_ts: int | None = None  # timestamp of the event in progress
        self._current: TelephoneEvent | None = None
        self._reported_ts: int | None = None  # timestamp of the last reported event

    def feed(self, payload: bytes, timestamp: int) -> list[KeyPress]:
        """Feed one telephone-event payload and its RTP timestamp; return new key presses."""
        event = parse_event(payload)
        if event is None or event.digit is None or timestamp == self._reported_ts:
            return []  # malformed, not a key, or a redundant end of a reported key
        out: list[KeyPress] = []
        if self._current_ts is not None and timestamp != self._current_ts:
            out.extend(self.flush())  # a new key began: the previous one lost its end
        self._current_ts, self._current = timestamp, event
        if event.end:
            out.extend(self.flush())
        return out

    def flush(self) -> list[KeyPress]:
        """Report the key in progress (if any) as if it had ended."""
        event, ts = self._current, self._current_ts
        self._current = self._current_ts = None
        if event is None or ts is None or event.digit is None:
            return []
        self._reported_ts = ts
        return [KeyPress(event.digit, event.duration // 8)]

"""The few RTP/RTCP header facts the relay and the softphone need (RFC 3550, RFC 5761).

RTP and RTCP share one port per leg (rtcp-mux, RFC 5761): a packet whose second byte is in
192..223 is RTCP. Only the fixed 12-byte RTP header is parsed; the relay never looks at
the payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_LEN = 12
PCMU_PAYLOAD_TYPE = 0
PCMU_CLOCK_RATE = 8000
RTCP_RR = 201

_HEADER = struct.Struct("!BBHII")


def is_rtcp(packet: bytes) -> bool:
    """True if ``packet`` (RTP version 2 checked by the caller) is RTCP by RFC 5761 demux."""
    return 192 <= packet[1] <= 223


def looks_like_rtp_or_rtcp(packet: bytes) -> bool:
    """Cheap sanity check: long enough for a header and version 2."""
    return len(packet) >= RTP_HEADER_LEN and (packet[0] >> 6) == RTP_VERSION


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The fixed RTP header fields."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False


def build_rtp(header: RtpHeader, payload: bytes) -> bytes:
    """Serialize an RTP packet with no CSRC and no extension."""
    second = (0x80 if header.marker else 0) | (header.payload_type & 0x7F)
    return (
        _HEADER.pack(
            0x80, second, header.sequence & 0xFFFF, header.timestamp & 0xFFFFFFFF, header.ssrc
        )
        + payload
    )


def parse_rtp(packet: bytes) -> tuple[RtpHeader, bytes]:
    """Split an RTP packet into header and payload (CSRCs, extension, padding handled)."""
    if not looks_like_rtp_or_rtcp(packet):
        raise ValueError("not an RTP packet")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(packet)
    offset = RTP_HEADER_LEN + 4 * (first & 0x0F)
    if first & 0x10:
        if len(packet) < offset + 4:
            raise ValueError("truncated RTP extension")
        (ext_words,) = struct.unpack_from("!H", packet, offset + 2)
        offset += 4 + 4 * ext_words
    end = len(packet)
    if first & 0x20 and end > offset:
        end -= packet[-1]
    if offset > end:
        raise ValueError("truncated RTP packet")
    header = RtpHeader(second & 0x7F, seq, ts, ssrc, bool(second & 0x80))
    return header, packet[offset:end]


def build_receiver_report(ssrc: int) -> bytes:
    """An empty RTCP receiver report from ``ssrc`` (used to latch a leg before media)."""
    return struct.pack("!BBHI", 0x80, RTCP_RR, 1, ssrc)

"""Port allocator and RTP header helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabric.errors import InvalidArgument, ResourceExhausted
from fabric.media.ports import PortAllocator
from fabric.media.rtp import RtpHeader, build_receiver_report, build_rtp, is_rtcp, parse_rtp


def test_media_ports_fifo_and_exhaustion() -> None:
    ports = PortAllocator(40000, 40002)
    taken = [ports.take() for _ in range(3)]
    assert taken == [40000, 40001, 40002]
    with pytest.raises(ResourceExhausted) as info:
        ports.take()
    assert info.value.error_id == "media-ports-exhausted"
    ports.give_back(40001)
    ports.give_back(40001)  # twice is harmless
    assert ports.in_use == 2
    assert ports.take() == 40001


def test_media_ports_freed_port_is_reused_last() -> None:
    ports = PortAllocator(40000, 40003)
    first = ports.take()
    ports.give_back(first)
    assert [ports.take() for _ in range(4)] == [40001, 40002, 40003, 40000]


def test_media_ports_bad_range() -> None:
    with pytest.raises(InvalidArgument):
        PortAllocator(5000, 4000)


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    payload=st.binary(max_size=200),
)
def test_media_rtp_build_parse_roundtrip(
    pt: int, seq: int, ts: int, ssrc: int, marker: bool, payload: bytes
) -> None:
    header = RtpHeader(pt, seq, ts, ssrc, marker)
    packet = build_rtp(header, payload)
    assert parse_rtp(packet) == (header, payload)


def test_media_rtcp_demux() -> None:
    assert is_rtcp(build_receiver_report(7))
    assert not is_rtcp(build_rtp(RtpHeader(0, 1, 2, 3), b"x"))
    assert not is_rtcp(build_rtp(RtpHeader(0, 1, 2, 3, marker=True), b"x"))


def test_media_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_rtp(b"\x00" * 20)
    with pytest.raises(ValueError):
        parse_rtp(b"\x80")

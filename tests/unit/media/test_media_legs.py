"""The relay leg's receive path, driven with datagrams and a fake transport (no sockets)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from fabric.media.legs import SdesLeg, srtp_session
from fabric.media.rtp import RtpHeader, build_receiver_report, build_rtp, parse_rtp
from fabric.media.session import RelaySession
from fabric.media.suites import SrtpSuite, new_key_material
from fabric.media.types import TIMEOUT_REASON

CLIENT_A = ("10.0.0.1", 5000)
CLIENT_B = ("10.0.0.2", 6000)
THIRD = ("10.0.0.9", 7000)


class FakeTransport:
    def __init__(self, protocol: SdesLeg) -> None:
        self.sent: list[tuple[bytes, Any]] = []
        self.protocol = protocol

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        self.protocol.connection_lost(None)


class Client:
    """One side's keys: what the client encrypts with and what the relay answers with."""

    def __init__(self, suite: SrtpSuite, leg_id: str, port: int, freed: list[int]) -> None:
        self.key = new_key_material(suite)
        self.relay_key = new_key_material(suite)
        self.tx = srtp_session(suite, *self.key, inbound=False)
        self.rx = srtp_session(suite, *self.relay_key, inbound=True)
        self.leg = SdesLeg(leg_id, port, suite, self.key, self.relay_key, freed.append)
        self.transport = FakeTransport(self.leg)
        self.leg.connection_made(self.transport)  # type: ignore[arg-type]
        self.seq = 100
        self.ts = 1000

    def rtp(self, payload: bytes) -> bytes:
        packet = build_rtp(RtpHeader(0, self.seq, self.ts, 0xA1, False), payload)
        self.seq += 1
        self.ts += 160
        return bytes(self.tx.protect(packet))

    def received(self) -> list[bytes]:
        return [parse_rtp(bytes(self.rx.unprotect(data)))[1] for data, _ in self.transport.sent]


def make_call(
    suite: SrtpSuite = SrtpSuite.AES_CM_128_HMAC_SHA1_80,
) -> tuple[Client, Client, list[int]]:
    freed: list[int] = []
    a = Client(suite, "a", 40000, freed)
    b = Client(suite, "b", 40001, freed)
    session = RelaySession("call")
    session.add(a.leg)
    session.add(b.leg)
    return a, b, freed


@pytest.mark.parametrize("suite", list(SrtpSuite))
def test_media_leg_forwards_reencrypted_with_the_peer_key(suite: SrtpSuite) -> None:
    a, b, _ = make_call(suite)
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    frames = [os.urandom(160) for _ in range(5)]
    for frame in frames:
        a.leg.datagram_received(a.rtp(frame), CLIENT_A)
    assert [addr for _, addr in b.transport.sent] == [CLIENT_B] * 5
    assert b.received() == frames
    # the forwarded bytes are not what A sent: re-encrypted with B's relay key
    assert all(data != a.rtp(f) for (data, _), f in zip(b.transport.sent, frames, strict=True))
    stats = a.leg.stats()
    assert (stats.packets_in, stats.packets_lost) == (5, 0)
    assert b.leg.stats().packets_out == 5


def test_media_leg_latches_on_first_authenticated_packet_only() -> None:
    a, b, _ = make_call()
    a.leg.datagram_received(os.urandom(100), THIRD)  # garbage does not latch
    a.leg.datagram_received(build_rtp(RtpHeader(0, 1, 1, 1), b"x" * 160), THIRD)  # plain RTP
    assert a.leg.remote is None
    a.leg.datagram_received(a.rtp(b"y" * 160), CLIENT_A)
    assert a.leg.remote == CLIENT_A
    drops = a.leg.stats().drops
    assert drops["auth-failed"] >= 1
    assert drops["no-peer"] == 1  # B has not latched: nowhere to send


def test_media_leg_drops_and_counts_attacks_without_disturbing_audio() -> None:
    a, b, _ = make_call()
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    good = [os.urandom(160) for _ in range(4)]
    first = a.rtp(good[0])
    a.leg.datagram_received(first, CLIENT_A)
    a.leg.datagram_received(first, CLIENT_A)  # replay
    tampered = bytearray(a.rtp(good[1]))
    tampered[-1] ^= 0x01
    a.leg.datagram_received(bytes(tampered), CLIENT_A)  # bad tag
    a.seq -= 1  # the tampered packet's sequence was never accepted: resend it properly
    a.ts -= 160
    a.leg.datagram_received(a.rtp(good[1]), CLIENT_A)
    a.leg.datagram_received(a.rtp(good[2]), THIRD)  # valid SRTP, wrong source
    a.seq -= 1
    a.ts -= 160
    for size in (0, 1, 11, 12, 50, 1400):
        a.leg.datagram_received(os.urandom(size), CLIENT_A)
    a.leg.datagram_received(b"\x80\x00" + b"\x00" * 30, CLIENT_A)  # RTP-looking, unauthenticated
    a.leg.datagram_received(a.rtp(good[2]), CLIENT_A)
    a.leg.datagram_received(a.rtp(good[3]), CLIENT_A)
    assert b.received() == good
    drops = a.leg.stats().drops
    assert drops["replay"] == 1
    assert drops["unexpected-source"] == 1
    assert drops["auth-failed"] >= 2
    assert drops["auth-failed"] + drops["malformed"] == 1 + 6 + 1
    assert a.leg.stats().packets_in == 4


def test_media_leg_relays_srtcp() -> None:
    a, b, _ = make_call()
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    a.leg.datagram_received(bytes(a.tx.protect_rtcp(build_receiver_report(0xA1))), CLIENT_A)
    data, addr = b.transport.sent[-1]
    assert addr == CLIENT_B
    assert bytes(b.rx.unprotect_rtcp(data)) == build_receiver_report(0xA1)
    assert a.leg.stats().rtcp_in == 1 and b.leg.stats().rtcp_out == 1


def test_media_leg_counts_loss_and_wraparound() -> None:
    a, b, _ = make_call()
    a.seq = 0xFFFE
    for i in range(6):
        packet = a.rtp(b"z" * 160)
        if i not in (1, 3):  # lose two, one of them across the wrap
            a.leg.datagram_received(packet, CLIENT_A)
    stats = a.leg.stats()
    assert stats.packets_in == 4
    assert stats.packets_lost == 2


def test_media_leg_never_raises_from_the_receive_loop() -> None:
    a, _, _ = make_call()
    a.leg.datagram_received(None, CLIENT_A)  # type: ignore[arg-type]
    assert a.leg.stats().drops["malformed"] == 1


def test_media_leg_close_gives_port_back() -> None:
    a, b, freed = make_call()
    a.leg.close()
    b.leg.close()
    assert sorted(freed) == [40000, 40001]


def test_media_session_times_out_a_silent_latched_leg() -> None:
    a, b, _ = make_call()
    session = RelaySession("call")
    session.add(a.leg)
    session.add(b.leg)
    a.leg.datagram_received(a.rtp(b"q" * 160), CLIENT_A)
    now = a.leg.last_rx
    b.leg.latch_to(CLIENT_B)
    b.leg.last_rx = now
    assert not session.check_timeout(now + 5, 10.0)
    a.leg.last_rx = now + 9  # A keeps talking, B went silent at `now`
    assert session.check_timeout(now + 10.5, 10.0)
    status = session.status(now + 10.5)
    assert status.timed_out and status.reason == TIMEOUT_REASON and status.timed_out_leg == "b"
    assert not session.check_timeout(now + 20, 10.0)  # reported once


def test_media_unlatched_leg_does_not_time_out() -> None:
    a, b, _ = make_call()
    session = RelaySession("call")
    session.add(a.leg)
    session.add(b.leg)
    assert not session.check_timeout(a.leg.created + 3600, 10.0)


@pytest.mark.parametrize("fast", [True, False])
def test_media_srtp_context_statuses_on_both_paths(fast: bool) -> None:
    from fabric.media.srtp_fast import STATUS_AUTH_FAIL, STATUS_REPLAY_FAIL, SrtpContext

    suite = SrtpSuite.AEAD_AES_256_GCM
    key = new_key_material(suite)
    tx = SrtpContext(srtp_session(suite, *key, inbound=False))
    rx = SrtpContext(srtp_session(suite, *key, inbound=True))
    tx._fast = rx._fast = fast
    plain = build_rtp(RtpHeader(0, 1, 160, 9), b"p" * 160)
    packet = tx.protect(plain)
    assert packet is not None and packet != plain
    assert rx.unprotect(packet) == plain
    assert rx.unprotect(packet) is None and rx.status == STATUS_REPLAY_FAIL
    other = tx.protect(build_rtp(RtpHeader(0, 2, 320, 9), b"q" * 160))
    assert other is not None
    assert rx.unprotect(other[:-1] + bytes([other[-1] ^ 1])) is None
    assert rx.status == STATUS_AUTH_FAIL
    rtcp = tx.protect_rtcp(build_receiver_report(9))
    assert rtcp is not None and rx.unprotect_rtcp(rtcp) == build_receiver_report(9)
    assert rx.unprotect(b"\x80" * 2000) is None

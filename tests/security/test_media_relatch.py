"""The relay does not follow a spoofed source: a leg moves to another address only after the
latched one went quiet and the new one kept sending authenticated packets, at most once per
interval (fake transport and a manual clock; no sockets)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from fabric.media import legs
from fabric.media.legs import SdesLeg, srtp_session
from fabric.media.rtp import RtpHeader, build_receiver_report, build_rtp, parse_rtp
from fabric.media.session import RelaySession
from fabric.media.suites import SrtpSuite, new_key_material

CLIENT_A = ("10.0.0.1", 5000)
A_MOVED = ("10.0.0.1", 5999)
CLIENT_B = ("10.0.0.2", 6000)
SPOOFER = ("10.0.0.66", 6666)
SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


class Phone:
    def __init__(self, leg_id: str, port: int) -> None:
        self.key, self.relay_key = new_key_material(SUITE), new_key_material(SUITE)
        self.tx = srtp_session(SUITE, *self.key, inbound=False)
        self.rx = srtp_session(SUITE, *self.relay_key, inbound=True)
        self.leg = SdesLeg(leg_id, port, SUITE, self.key, self.relay_key, lambda _: None)
        self.transport = Transport()
        self.leg.connection_made(self.transport)  # type: ignore[arg-type]
        self.seq, self.ts = 100, 1000
        self.checked = 0

    def rtp(self) -> bytes:
        packet = build_rtp(RtpHeader(0, self.seq, self.ts, 0xA1, False), os.urandom(160))
        self.seq, self.ts = self.seq + 1, self.ts + 160
        return bytes(self.tx.protect(packet))

    def heard(self) -> int:
        """Packets the relay sent this phone, each checked to decrypt with its relay key."""
        for data, _ in self.transport.sent[self.checked:]:
            parse_rtp(bytes(self.rx.unprotect(data)))
        self.checked = len(self.transport.sent)
        return self.checked


Call = tuple[Phone, Phone, Clock]


@pytest.fixture()
def call(monkeypatch: pytest.MonkeyPatch) -> Call:
    clock = Clock()
    monkeypatch.setattr(legs, "_monotonic", clock)
    a, b = Phone("a", 40000), Phone("b", 40001)
    session = RelaySession("call")
    session.add(a.leg)
    session.add(b.leg)
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    a.leg.datagram_received(a.rtp(), CLIENT_A)
    assert a.leg.remote == CLIENT_A
    return a, b, clock


def test_one_spoofed_authenticated_packet_does_not_move_the_leg(call: Call) -> None:
    a, b, clock = call
    clock.now += 5.0  # even after the client went quiet
    a.leg.datagram_received(a.rtp(), SPOOFER)  # a captured packet sent from elsewhere
    assert a.leg.remote == CLIENT_A
    a.leg.datagram_received(a.rtp(), CLIENT_A)
    assert a.leg.remote == CLIENT_A and a.leg.relatches == 0


def test_a_new_source_never_takes_a_live_leg(call: Call) -> None:
    a, b, clock = call
    for _ in range(50):  # the real client keeps talking; authentic packets race from elsewhere
        clock.now += 0.02
        a.leg.datagram_received(a.rtp(), CLIENT_A)
        a.leg.datagram_received(a.rtp(), SPOOFER)
    assert a.leg.remote == CLIENT_A and a.leg.relatches == 0
    assert b.heard() == 51
    assert a.leg.stats().drops["unexpected-source"] == 50


def test_a_client_that_moved_and_keeps_sending_is_followed_once_per_interval(call: Call) -> None:
    a, b, clock = call
    clock.now += legs.RELATCH_QUIET_S + 0.5  # the client's NAT mapping changed
    for _ in range(legs.RELATCH_PACKETS):
        assert a.leg.remote == CLIENT_A
        clock.now += 0.02
        a.leg.datagram_received(a.rtp(), A_MOVED)
    assert a.leg.remote == A_MOVED and a.leg.relatches == 1
    heard = b.heard()
    a.leg.datagram_received(a.rtp(), A_MOVED)
    assert b.heard() == heard + 1  # media flows from the new address
    # a second move within the interval is refused, even after silence
    clock.now += legs.RELATCH_QUIET_S + 0.5
    for _ in range(legs.RELATCH_PACKETS * 2):
        clock.now += 0.02
        a.leg.datagram_received(a.rtp(), SPOOFER)
    assert a.leg.remote == A_MOVED and a.leg.relatches == 1

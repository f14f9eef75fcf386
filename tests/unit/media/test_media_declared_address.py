"""A leg whose offer declared the client's RTP address: the first frame is delivered before
the client sent anything; the first authenticated packet still latches (NAT); what the relay
could not deliver counts as lost in the CDR fields."""

from __future__ import annotations

import os

from test_media_legs import CLIENT_A, CLIENT_B, Client

from fabric.media.engine import declared_address
from fabric.media.legs import SdesLeg
from fabric.media.rtp import build_receiver_report
from fabric.media.session import RelaySession
from fabric.media.suites import SrtpSuite
from fabric.media.types import MediaOffer, MediaStatsReport

DECLARED_B = ("192.168.1.20", 6000)  # B's private address; its NAT shows CLIENT_B


def _call(declared_b: tuple[str, int] | None) -> tuple[Client, Client]:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    freed: list[int] = []
    a = Client(suite, "a", 40000, freed)
    b = Client(suite, "b", 40001, freed)
    if declared_b is not None:  # the same leg, opened with the declared address
        b.leg = SdesLeg("b", 40001, suite, b.key, b.relay_key, freed.append, declared=declared_b)
        b.leg.connection_made(b.transport)  # type: ignore[arg-type]
        b.transport.protocol = b.leg
    session = RelaySession("call")
    session.add(a.leg)
    session.add(b.leg)
    return a, b


def test_the_first_frame_goes_to_the_declared_address_then_the_leg_latches() -> None:
    a, b = _call(DECLARED_B)
    assert not b.leg.latched  # a declared address is no latch (the media timeout waits)
    first = os.urandom(160)
    a.leg.datagram_received(a.rtp(first), CLIENT_A)
    assert [addr for _, addr in b.transport.sent] == [DECLARED_B]
    assert b.received() == [first]
    # B's first packet comes through its NAT: the leg latches to the observed source at once
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    assert b.leg.latched and b.leg.remote == CLIENT_B
    a.leg.datagram_received(a.rtp(os.urandom(160)), CLIENT_A)
    assert b.transport.sent[-1][1] == CLIENT_B
    # once latched, another source is a re-latch candidate (rules of legs.py), not a move
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), DECLARED_B)
    assert b.leg.remote == CLIENT_B


def test_without_a_declared_address_the_first_frame_is_lost_and_counted() -> None:
    a, b = _call(None)
    a.leg.datagram_received(a.rtp(os.urandom(160)), CLIENT_A)  # B not heard yet: nowhere to go
    assert b.transport.sent == []
    b.leg.datagram_received(bytes(b.tx.protect_rtcp(build_receiver_report(0xB1))), CLIENT_B)
    a.leg.datagram_received(a.rtp(os.urandom(160)), CLIENT_A)
    report = MediaStatsReport("call", [a.leg.stats(), b.leg.stats()])
    fields = report.cdr_fields()
    assert fields["packets_received"] == 2
    assert fields["packets_sent"] == 1
    assert fields["packets_lost"] == 1


def test_a_public_relay_sends_early_only_to_a_public_declared_address() -> None:
    def offer(host: str) -> MediaOffer:
        return MediaOffer("AES_CM_128_HMAC_SHA1_80", b"k" * 16, b"s" * 14, host, 4000)

    assert declared_address(offer("8.8.8.8"), "1.1.1.1") == ("8.8.8.8", 4000)
    for private in ("127.0.0.1", "10.1.2.3", "192.168.1.20", "169.254.0.1"):
        assert declared_address(offer(private), "1.1.1.1") is None  # never the relay's own net
        assert declared_address(offer(private), "10.0.0.5") == (private, 4000)  # a private relay
    assert declared_address(MediaOffer("AES_CM_128_HMAC_SHA1_80", b"k" * 16, b"s" * 14),
                            "127.0.0.1") is None

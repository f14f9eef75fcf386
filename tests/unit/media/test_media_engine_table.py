"""The relay engine's session table, timeouts and reaping (legs attached by hand, no sockets)."""

from __future__ import annotations

import pytest

from fabric.errors import InvalidArgument, NotFound
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.legs import SdesLeg
from fabric.media.suites import SrtpSuite, new_key_material
from fabric.media.types import MediaOffer


def attach(engine: RelayEngine, call_id: str, leg_id: str, port: int) -> SdesLeg:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    engine.ports.take()
    leg = SdesLeg(
        leg_id,
        port,
        suite,
        new_key_material(suite),
        new_key_material(suite),
        engine.ports.give_back,
    )
    engine.sessions[call_id].add(leg)
    return leg


def engine() -> RelayEngine:
    return RelayEngine(
        RelayConfig(
            port_min=40000,
            port_max=40009,
            media_timeout_s=10,
            orphan_grace_s=30,
            idle_session_s=600,
        )
    )


def test_media_allocate_is_idempotent_and_release_too() -> None:
    relay = engine()
    assert relay.allocate_session("c1") == relay.allocate_session("c1")
    assert relay.counts()["sessions"] == 1


async def test_media_release_unknown_and_twice() -> None:
    relay = engine()
    relay.allocate_session("c1")
    leg = attach(relay, "c1", "a", 40000)
    leg.packets_in = 7
    first = await relay.release_session("c1")
    again = await relay.release_session("c1")
    assert first == again and first.legs[0].packets_in == 7
    unknown = await relay.release_session("never")
    assert unknown.legs == []
    assert relay.totals().packets_in == 7


async def test_media_add_leg_needs_a_session_and_a_valid_offer() -> None:
    relay = engine()
    offer = MediaOffer("AES_CM_128_HMAC_SHA1_80", b"k" * 16, b"s" * 14)
    with pytest.raises(NotFound) as info:
        await relay.add_leg("nope", "a", offer)
    assert info.value.error_id == "media-session-not-found"
    relay.allocate_session("c1")
    with pytest.raises(InvalidArgument):
        await relay.add_leg("c1", "a", MediaOffer("AES_CM_128_HMAC_SHA1_80", b"k", b"s"))
    with pytest.raises(InvalidArgument):
        await relay.add_leg("c1", "", offer)
    assert relay.ports.in_use == 0


def test_media_bad_call_id_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        engine().allocate_session("x" * 500)


def test_media_sweep_reports_timeout_once_then_reaps_orphan() -> None:
    relay = engine()
    relay.allocate_session("c1")
    relay.allocate_session("c2")
    leg = attach(relay, "c1", "a", 40000)
    leg.latch_to(("127.0.0.1", 1))
    leg.last_rx = 1000.0
    other = attach(relay, "c2", "b", 40001)
    other.latch_to(("127.0.0.1", 2))
    other.last_rx = 1000.0
    relay.sweep(1005.0)
    assert relay.drain_timeouts() == []
    other.last_rx = 1009.0
    relay.sweep(1011.0)
    assert relay.drain_timeouts() == ["c1"]
    assert relay.drain_timeouts() == []
    status = relay.session_status("c1")
    assert status.timed_out and status.reason == "media-timeout"
    relay.sweep(1012.0)
    assert relay.drain_timeouts() == []
    relay.sweep(1011.0 + 31)  # nobody released c1 within the grace: reaped
    assert "c1" not in relay.sessions
    assert relay.drain_timeouts() == ["c2"]  # c2's leg went silent meanwhile
    assert relay.counts()["timeouts_total"] == 2


def test_media_sweep_reaps_sessions_nobody_used() -> None:
    relay = engine()
    relay.allocate_session("idle")
    created = relay.sessions["idle"].created
    relay.sweep(created + 601)
    assert relay.sessions == {}


async def test_media_remove_leg_keeps_its_stats_and_rewires_the_rest() -> None:
    relay = engine()
    relay.allocate_session("c1")
    a = attach(relay, "c1", "a", 40000)
    b = attach(relay, "c1", "b", 40001)
    c = attach(relay, "c1", "c", 40002)
    b.packets_in = 5
    assert relay.remove_leg("c1", "b") is True
    assert relay.remove_leg("c1", "b") is False  # idempotent
    assert relay.remove_leg("never", "b") is False
    assert a.peers == (c,) and c.peers == (a,)
    assert relay.counts()["legs"] == 2
    report = await relay.release_session("c1")
    assert {leg.leg_id: leg.packets_in for leg in report.legs} == {"b": 5, "a": 0, "c": 0}

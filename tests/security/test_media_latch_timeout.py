"""A media leg that never sends authenticated media does not hold its relay port forever:
after ``latch_timeout_s`` its session is timed out (the call ends media-timeout) and the
session is reaped (legs attached by hand, no sockets)."""

from __future__ import annotations

from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.legs import SdesLeg
from fabric.media.suites import SrtpSuite, new_key_material

SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80


def _engine() -> RelayEngine:
    return RelayEngine(RelayConfig(port_min=41000, port_max=41009, media_timeout_s=30,
                                   latch_timeout_s=20, orphan_grace_s=60))


def _attach(engine: RelayEngine, call_id: str, leg_id: str) -> SdesLeg:
    port = engine.ports.take()
    leg = SdesLeg(leg_id, port, SUITE, new_key_material(SUITE), new_key_material(SUITE),
                  engine.ports.give_back)
    engine.sessions[call_id].add(leg)
    return leg


def test_a_leg_that_never_latches_times_its_session_out_and_frees_the_port() -> None:
    relay = _engine()
    relay.allocate_session("silent")
    relay.allocate_session("talking")
    silent = _attach(relay, "silent", "caller")
    talking = _attach(relay, "talking", "caller")
    talking.latch_to(("127.0.0.1", 5000))  # latched: it sent authenticated media
    talking.last_rx = silent.created + 19
    relay.sweep(silent.created + 19)
    assert relay.drain_timeouts() == []
    relay.sweep(silent.created + 21)
    assert relay.drain_timeouts() == ["silent"]  # the call actor ends the call
    assert relay.session_status("silent").reason == "media-timeout"
    relay.sweep(silent.created + 21 + 61)  # nobody released it: reaped (its socket closed)
    assert "silent" not in relay.sessions

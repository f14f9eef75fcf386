"""Both data planes on real UDP sockets: the compiled one (fabric.media.fastpath) and the
Python path forward the same audio with the same counters; a session handed from the
compiled plane to the Python path mid-call loses nothing and keeps its counters."""

from __future__ import annotations

import pytest

from fabric.client.phone_media import SoftphoneMedia
from fabric.media import g711
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.fastleg import FastLeg
from fabric.media.legs import SdesLeg
from fabric.media.suites import SrtpSuite
from fabric.testing import eventually

PORTS = (22300, 22339)
GCM, CM = SrtpSuite.AEAD_AES_256_GCM, SrtpSuite.AES_CM_128_HMAC_SHA1_80


async def _call(relay: RelayEngine, call_id: str) -> tuple[SoftphoneMedia, SoftphoneMedia]:
    relay.allocate_session(call_id)
    phones = (SoftphoneMedia(CM), SoftphoneMedia(GCM))
    for name, phone in zip("ab", phones, strict=True):
        await phone.start(await relay.add_leg(call_id, name, phone.offer()))
        phone.latch()
    await eventually(lambda: all(leg.latched for leg in relay.session_status(call_id).legs),
                     what="both legs latched")
    return phones


@pytest.mark.parametrize(("dataplane", "kind"), [("auto", FastLeg), ("python", SdesLeg)])
async def test_both_paths_forward_the_same_audio_and_count_alike(
    dataplane: str, kind: type
) -> None:
    relay = RelayEngine(RelayConfig(port_min=PORTS[0], port_max=PORTS[1], dataplane=dataplane))
    relay.start()
    if dataplane == "auto":
        assert relay.dataplane == "compiled"  # gcc and cffi are installed here
    a, b = await _call(relay, "call")
    assert all(isinstance(leg, kind) for leg in relay.sessions["call"].legs.values())
    audio = g711.sweep_ulaw(0.4)
    assert await a.send_ulaw(audio) == 20
    assert await b.wait_received(20, 5.0)
    assert b.recording() == audio
    a.send_raw(b"\x80" + bytes(40))  # plain RTP: refused as auth-failed
    await eventually(
        lambda: relay.session_status("call").stats.legs[0].drops["auth-failed"] == 1,
        what="the forged packet counted",
    )
    rtcp_before = relay.session_status("call").stats.legs[1].rtcp_out
    a.latch()  # another SRTCP report, now that both legs are latched: forwarded to b
    await eventually(
        lambda: relay.session_status("call").stats.legs[1].rtcp_out == rtcp_before + 1,
        what="the report forwarded",
    )
    report = await relay.release_session("call")
    first, second = report.legs
    assert (first.packets_in, first.packets_lost, second.packets_out) == (20, 0, 20)
    assert (first.rtcp_in, second.rtcp_in) == (2, 1)
    await a.close()
    await b.close()
    await relay.close()
    assert relay.ports.in_use == 0


async def test_a_session_handed_to_the_python_path_mid_call_keeps_its_state() -> None:
    relay = RelayEngine(RelayConfig(port_min=PORTS[0], port_max=PORTS[1]))
    relay.start()
    a, b = await _call(relay, "moved")
    audio = g711.sweep_ulaw(0.8)
    assert await a.send_ulaw(audio[: len(audio) // 2]) == 20
    assert await b.wait_received(20, 5.0)
    session = relay.sessions["moved"]
    relay._to_python_path(session)  # what a fork, a play/record leg or a WebRTC leg does
    assert all(isinstance(leg, SdesLeg) for leg in session.legs.values())
    assert relay.counts()["sessions_handed_over"] == 1
    # same SSRC, sequence continues: the SRTP state (replay window) moved with the leg
    assert await a.send_ulaw(audio[len(audio) // 2 :]) == 20
    assert await b.wait_received(40, 5.0)
    stats = relay.session_status("moved").stats.legs
    assert stats[0].packets_in == 40 and stats[0].packets_lost == 0
    assert stats[1].packets_out == 40 and sum(stats[0].drops.values()) == 0
    await relay.release_session("moved")
    await a.close()
    await b.close()
    await relay.close()
    assert relay.ports.in_use == 0

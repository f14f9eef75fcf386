"""The WebRTC leg bridge in-process (no Ray): bad offers are refused, nothing is left open."""

from __future__ import annotations

import pytest

from fabric.client.webrtc_phone import WebRtcPhone
from fabric.errors import InvalidArgument
from fabric.media.engine import RelayConfig, RelayEngine


@pytest.mark.parametrize(
    "sdp", ["garbage", "", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"]
)
async def test_media_bad_webrtc_offer_is_refused(sdp: str) -> None:
    engine = RelayEngine(RelayConfig(port_min=22100, port_max=22109))
    engine.allocate_session("c")
    with pytest.raises(InvalidArgument):
        await engine.add_webrtc_leg("c", "browser", sdp)
    assert engine.sessions["c"].legs == {}
    await engine.close()


async def test_media_webrtc_leg_answers_pcmu_only() -> None:
    engine = RelayEngine(RelayConfig(port_min=22100, port_max=22109))
    engine.allocate_session("c")
    browser = WebRtcPhone()
    answer = await engine.add_webrtc_leg("c", "browser", await browser.offer())
    audio_lines = [line for line in answer.splitlines() if line.startswith("m=audio")]
    assert len(audio_lines) == 1 and audio_lines[0].split()[3:] == ["0"]  # PT 0 = PCMU
    assert "a=fingerprint:" in answer and "a=candidate:" in answer  # DTLS + ICE
    second = WebRtcPhone()
    with pytest.raises(InvalidArgument):  # one leg id, one leg
        await engine.add_webrtc_leg("c", "browser", await second.offer())
    await second.close()
    report = await engine.release_session("c")
    assert [leg.leg_id for leg in report.legs] == ["browser"]
    await browser.close()
    await engine.close()

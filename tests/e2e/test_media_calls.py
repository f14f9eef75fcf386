"""Media end to end through the relay Ray actors: real softphones, real WebRTC, real audio.

Media-only: the call actor is not involved (it calls the same ``MediaControl`` methods).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from fabric.client.phone_media import SoftphoneMedia
from fabric.client.webrtc_phone import WebRtcPhone
from fabric.config import MediaSettings
from fabric.media import g711
from fabric.media.protoconv import answer_from_proto, offer_to_proto
from fabric.media.relay_actor import MediaControl, RelayCallMedia, start_media_relays
from fabric.media.suites import SrtpSuite
from fabric.testing import eventually

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def control(ray_driver: Any) -> Iterator[MediaControl]:
    """One relay on the session's Ray cluster (in this module's own job)."""
    handles: list[Any] = start_media_relays(
        MediaSettings(port_min=22400, port_max=22499), relays=1
    )
    ray.get([h.counts.remote() for h in handles])
    yield MediaControl(handles)
    ray.get([h.shutdown.remote() for h in handles])


async def wait_latched(control: MediaControl, call: str) -> None:
    async def latched() -> bool:
        status = await control.session_status(call)
        return bool(status.legs) and all(leg.latched for leg in status.legs)

    await eventually(latched, what="every leg latched")


async def test_media_two_softphones_exchange_a_wav(control: MediaControl, tmp_path: Path) -> None:
    """Driven the way the call actor drives it: RelayCallMedia with the API's messages."""
    call = "e2e-softphones"
    media = RelayCallMedia(control)
    await media.open(call)
    alice = SoftphoneMedia(SrtpSuite.AES_CM_128_HMAC_SHA1_80)
    bob = SoftphoneMedia(SrtpSuite.AEAD_AES_256_GCM)
    for name, phone in (("caller", alice), ("callee", bob)):
        answer = await media.add_leg(call, name, offer_to_proto(phone.offer()))
        assert answer is not None
        await phone.start(answer_from_proto(answer))
    alice.latch()
    bob.latch()
    await wait_latched(control, call)
    alice_wav, bob_wav = tmp_path / "alice.wav", tmp_path / "bob.wav"
    g711.write_ulaw_wav(alice_wav, g711.sweep_ulaw(2.0))
    g711.write_ulaw_wav(bob_wav, g711.sweep_ulaw(2.0)[::-1])
    await asyncio.gather(alice.send_wav(alice_wav), bob.send_wav(bob_wav))
    assert await alice.wait_received(100, 5.0) and await bob.wait_received(100, 5.0)
    bob.save_recording(tmp_path / "bob-heard.wav")
    alice.save_recording(tmp_path / "alice-heard.wav")
    assert g711.read_wav_as_ulaw(tmp_path / "bob-heard.wav") == g711.read_wav_as_ulaw(alice_wav)
    assert g711.read_wav_as_ulaw(tmp_path / "alice-heard.wav") == g711.read_wav_as_ulaw(bob_wav)
    fields = await media.close(call)
    assert fields["packets_received"] == fields["packets_sent"] == 200
    assert fields["packets_lost"] == 0
    await alice.close()
    await bob.close()


async def test_media_webrtc_client_calls_a_softphone(control: MediaControl) -> None:
    call = "e2e-webrtc"
    await control.allocate_session(call)
    phone = SoftphoneMedia()
    await phone.start(await control.add_leg(call, "sdk", phone.offer()))
    phone.latch()
    browser = WebRtcPhone()
    answer = await control.add_webrtc_leg(call, "browser", await browser.offer())
    await browser.accept(answer)
    assert await browser.wait_connected(15.0)
    await wait_latched(control, call)  # the relay side connected too (first RTP or ICE)
    to_browser = g711.sweep_ulaw(1.0)
    to_phone = g711.sweep_ulaw(1.0)[::-1]
    browser.source.play(to_phone)
    # trailing silence pushes the last frames out of the browser's jitter buffer
    await asyncio.gather(
        phone.send_ulaw(to_browser + b"\xff" * 160 * 10), browser.wait_played(10.0)
    )
    assert await phone.wait_received(50, 5.0)
    heard_by_phone = g711.canonical_ulaw(phone.recording())
    assert g711.canonical_ulaw(to_phone) in heard_by_phone
    heard_by_browser = g711.canonical_ulaw(bytes(browser.received))
    assert g711.canonical_ulaw(to_browser) in heard_by_browser
    report = await control.release_session(call)
    assert {leg.leg_id for leg in report.legs} == {"sdk", "browser"}
    assert all(leg.packets_in >= 50 for leg in report.legs)
    await browser.close()
    await phone.close()

"""The recording fork of a bridged call on real UDP sockets and SRTP, sealed into a real
content store: each channel is what its party sent (sample-exact) after the announcement,
forwarding between the parties is untouched, hold pauses, key presses are reported."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from media_test_phone import FeaturePhone, content_settings, feature_phone, pcm_of

from fabric.media import g711
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.feature_types import (
    Codec,
    DtmfDetected,
    ForkEnd,
    ForkFinished,
    ForkSpec,
    SealTarget,
)
from fabric.media.prompts import encode_frames
from fabric.media.sealsink import LazyContentStore
from fabric.media.timeline import deinterleave
from fabric.media.wavstream import parse_pcm_wav, wav_chunks, wav_header
from fabric.testing import eventually
from fabric.vault.content import RECORDING

TENANT = "t-media-fork"
ANNOUNCEMENT = b"".join(
    int(3000 * ((n // 20) % 2 * 2 - 1)).to_bytes(2, "little", signed=True) for n in range(2400)
)  # 300 ms of a 200 Hz square wave


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[tuple[RelayEngine, LazyContentStore]]:
    base = random.randrange(23000, 27900, 100)
    # the relay opens its store on its seal thread; the test reads through a store of its own
    engine = RelayEngine(
        RelayConfig(port_min=base, port_max=base + 99, sweep_interval_s=0.05),
        content_settings(tmp_path),
    )
    engine.start()
    reader = content_settings(tmp_path)
    yield engine, reader
    await engine.close()
    await reader.close()
    assert engine.ports.in_use == 0


def fork_spec(object_id: str) -> ForkSpec:
    return ForkSpec(
        target=SealTarget(TENANT, RECORDING, object_id, {"audio_format": "wav"}),
        legs=("a", "b"),
        announcement=wav_header(1, len(ANNOUNCEMENT)) + ANNOUNCEMENT,
    )


def heard_announcement() -> bytes:
    return g711.ulaw_bytes_to_pcm16(b"".join(encode_frames(ANNOUNCEMENT, Codec.PCMU)))


async def channels_of(content: LazyContentStore, object_id: str) -> list[bytes]:
    store = await content()
    wav = b"".join([c async for c in wav_chunks(await store.open(TENANT, RECORDING, object_id))])
    channels, rate, pcm = parse_pcm_wav(wav)
    assert (channels, rate) == (2, 8000)
    return deinterleave(pcm, 2)


def assert_only(channel: bytes, *parts: bytes) -> None:
    """``channel`` holds ``parts`` in order, sample-exact, and silence everywhere else."""
    rest, at = bytearray(channel), 0
    for part in parts:
        found = channel.find(part, at)
        assert found >= 0 and found % 2 == 0, "a party's audio is missing or altered"
        rest[found : found + len(part)] = bytes(len(part))
        at = found + len(part)
    assert not any(rest), "the channel holds something its party did not send"


async def bridged(engine: RelayEngine, call_id: str) -> tuple[FeaturePhone, FeaturePhone]:
    a = await feature_phone(engine, call_id, "a")
    b = await feature_phone(engine, call_id, "b")
    return a, b


async def test_fork_channels_equal_what_each_party_sent_after_the_announcement(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    a, b = await bridged(engine, "call-rec")
    info = engine.start_fork("call-rec", fork_spec("rec-1"))
    assert info.channels == ("a", "b") and info.state == "announcing"
    frames = len(encode_frames(ANNOUNCEMENT, Codec.PCMU))
    assert await a.wait_received(frames, 5.0) and await b.wait_received(frames, 5.0)
    await eventually(lambda: engine.features.forks["call-rec"].state == "recording",
                     what="the announcement ended")
    sent_a = g711.sweep_ulaw(1.0)
    sent_b = g711.ulaw_encode([-s for s in g711.ulaw_decode(sent_a)])
    await asyncio.gather(a.send_audio(sent_a), b.send_audio(sent_b))
    assert await a.wait_received(frames + 50, 5.0) and await b.wait_received(frames + 50, 5.0)
    b.send_key("1")
    events: list[object] = []

    def key_reported() -> bool:
        events.extend(engine.drain_events())
        return any(isinstance(e, DtmfDetected) for e in events)

    await eventually(key_reported, what="B's key press reported")
    final = await engine.stop_fork("call-rec")
    assert final.state == "stopped" and final.drops == 0 and final.announced_at_ms > 0
    events.extend(engine.drain_events())
    assert [(e.leg_id, e.digit) for e in events if isinstance(e, DtmfDetected)] == [("b", "1")]
    (finished,) = [e for e in events if isinstance(e, ForkFinished)]
    assert finished.recorded and finished.reason == ForkEnd.STOPPED
    # forwarding untouched: each party heard the announcement, then all of the other's audio
    for phone, other in ((a, sent_b), (b, sent_a)):
        assert phone.stream_audio(0) == b"".join(encode_frames(ANNOUNCEMENT, Codec.PCMU))
        assert phone.stream_audio(1) == other
    ch_a, ch_b = await channels_of(content, "rec-1")
    announcement = heard_announcement()
    assert ch_a.startswith(announcement) and ch_b.startswith(announcement)
    assert_only(ch_a[len(announcement) :], pcm_of(sent_a, 0))
    assert_only(ch_b[len(announcement) :], pcm_of(sent_b, 0))
    assert final.bytes == 2 * len(ch_a) and final.duration_ms == len(ch_a) // 16
    report = await engine.release_session("call-rec")
    legs = {leg.leg_id: leg for leg in report.legs}
    assert (legs["a"].packets_in, legs["b"].packets_in) == (50, 50 + 6)  # B's key: 6 packets
    assert legs["b"].packets_out == frames + 50 and legs["a"].packets_out == frames + 56
    assert all(leg.packets_lost == 0 and not any(leg.drops.values()) for leg in report.legs)
    await a.close()
    await b.close()


async def test_fork_hold_pauses_and_call_end_seals(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    a, b = await bridged(engine, "call-hold")
    spec = ForkSpec(SealTarget(TENANT, RECORDING, "rec-hold"), legs=("a", "b"),
                    announcement_prompt="")
    engine.start_fork("call-hold", spec)
    await eventually(lambda: engine.features.forks["call-hold"].state == "recording",
                     what="recording")
    audio = g711.sweep_ulaw(1.5)
    before, held, after = audio[:4000], audio[4000:8000], audio[8000:]
    await a.send_audio(before)
    assert await b.wait_received(25, 5.0)
    await eventually(lambda: not engine.features.forks["call-hold"]._queue, what="drained")
    assert engine.pause_fork("call-hold").state == "paused"
    await a.send_audio(held)
    assert await b.wait_received(50, 5.0)  # forwarding goes on while the recording is paused
    await eventually(lambda: not engine.features.forks["call-hold"]._queue, what="drained")
    assert engine.resume_fork("call-hold").state == "recording"
    await a.send_audio(after)
    assert await b.wait_received(75, 5.0)
    await eventually(lambda: not engine.features.forks["call-hold"]._queue, what="drained")
    await engine.release_session("call-hold")  # the call ends while recording

    events: list[object] = []

    def sealed() -> bool:
        events.extend(engine.drain_events())
        return any(isinstance(e, ForkFinished) for e in events)

    await eventually(sealed, what="the fork sealed at the call's end")
    (finished,) = [e for e in events if isinstance(e, ForkFinished)]
    assert finished.reason == ForkEnd.CALL_ENDED and finished.recorded
    assert b.stream_audio(0) == audio  # B heard all of it
    ch_a, ch_b = await channels_of(content, "rec-hold")
    assert_only(ch_a, pcm_of(before, 0), pcm_of(after, 0))  # the held part is not recorded
    assert not any(ch_b)
    await a.close()
    await b.close()

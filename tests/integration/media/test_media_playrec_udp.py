"""The play/record leg (voicemail) on real UDP sockets and SRTP, sealed into a real content
store (SQLite + files, opened lazily from settings as a relay process does)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from media_test_phone import content_settings, feature_phone, pcm_of

from fabric.media import g711
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.feature_types import (
    Codec,
    DtmfDetected,
    PlayRecEnd,
    PlayRecFinished,
    PlayRecSpec,
    SealTarget,
)
from fabric.media.prompts import load_prompt
from fabric.media.sealsink import LazyContentStore
from fabric.media.wavstream import parse_pcm_wav, wav_chunks
from fabric.testing import eventually
from fabric.vault.content import VOICEMAIL

TENANT = "t-media-playrec"


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


def spec(object_id: str, codec: Codec = Codec.PCMU, **kw: object) -> PlayRecSpec:
    # a short tenant greeting (WAV bytes), so the test does not wait for the default's 7 s
    greeting = g711_wav(load_prompt("default-recording-announcement")[: 2 * 4000])
    return PlayRecSpec(
        target=SealTarget(TENANT, VOICEMAIL, object_id, {"audio_format": "wav"}),
        codec=codec, greeting=greeting, beep_ms=200, **kw,  # type: ignore[arg-type]
    )


def g711_wav(pcm: bytes) -> bytes:
    from fabric.media.wavstream import wav_header

    return wav_header(1, len(pcm)) + pcm


async def outcome(engine: RelayEngine, call_id: str) -> tuple[PlayRecFinished, list[str]]:
    events: list[object] = []

    def finished() -> bool:
        events.extend(engine.drain_events())
        return any(isinstance(e, PlayRecFinished) and e.call_id == call_id for e in events)

    await eventually(finished, timeout=20.0, what="the play/record leg finished")
    done = [e for e in events if isinstance(e, PlayRecFinished)]
    keys = [e.digit for e in events if isinstance(e, DtmfDetected)]
    assert len(done) == 1
    return done[0], keys


async def sealed_pcm(content: LazyContentStore, object_id: str) -> bytes:
    store = await content()
    reader = await store.open(TENANT, VOICEMAIL, object_id)
    wav = b"".join([c async for c in wav_chunks(reader)])
    channels, rate, pcm = parse_pcm_wav(wav)
    assert (channels, rate) == (1, 8000)
    assert int.from_bytes(wav[40:44], "little") == len(pcm)  # the served header is exact
    return pcm


@pytest.mark.parametrize("pt", [0, 8])
async def test_playrec_greeting_beep_then_records_until_pound_sample_exact(
    relay: tuple[RelayEngine, LazyContentStore], pt: int
) -> None:
    engine, content = relay
    call_id = f"call-vm-{pt}"
    phone = await feature_phone(engine, call_id, "caller", pt)
    codec = Codec.PCMA if pt == 8 else Codec.PCMU
    info = engine.start_playrec(call_id, "caller", spec(f"vm-{pt}", codec))
    greeting_frames = info.greeting_ms // 20
    assert await phone.wait_received(greeting_frames, 15.0)  # greeting and beep heard
    sent = g711.sweep_ulaw(1.0)
    if pt == 8:
        sent = g711.pcm16_to_alaw(g711.ulaw_to_pcm16(sent))
    await phone.send_audio(sent)
    phone.send_key("#")
    done, keys = await outcome(engine, call_id)
    assert keys == ["#"]
    assert (done.reason, done.recorded, done.samples) == (PlayRecEnd.DTMF, True, 8000)
    assert done.duration_ms == 1000 and done.bytes == 16000 and done.record_started_at_ms > 0
    assert await sealed_pcm(content, f"vm-{pt}") == pcm_of(sent, pt)
    # the caller heard the prompt in its codec (one stream, the relay's)
    assert len(phone.streams) == 1 and len(phone.stream_audio(0)) == greeting_frames * 160
    report = await engine.release_session(call_id)
    assert report.legs[0].packets_lost == 0  # recorded packets count as delivered
    await phone.close()


async def test_playrec_max_length_cuts_exactly(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    phone = await feature_phone(engine, "call-max", "caller")
    info = engine.start_playrec("call-max", "caller", spec("vm-max", max_seconds=0.5))
    assert await phone.wait_received(info.greeting_ms // 20, 15.0)
    sent = g711.sweep_ulaw(1.0)
    await phone.send_audio(sent)
    done, _ = await outcome(engine, "call-max")
    assert (done.reason, done.samples) == (PlayRecEnd.MAX_LENGTH, 4000)
    assert await sealed_pcm(content, "vm-max") == pcm_of(sent[:4000], 0)
    await engine.release_session("call-max")
    await phone.close()


async def test_playrec_sustained_silence_ends_it(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    phone = await feature_phone(engine, "call-quiet", "caller")
    info = engine.start_playrec("call-quiet", "caller", spec("vm-quiet", silence_seconds=0.6))
    assert await phone.wait_received(info.greeting_ms // 20, 15.0)
    voice, quiet = g711.sweep_ulaw(0.4), b"\xff" * 8000  # then 1 s of digital silence
    sender = asyncio.ensure_future(phone.send_audio(voice + quiet))
    done, _ = await outcome(engine, "call-quiet")
    await sender
    assert done.reason == PlayRecEnd.SILENCE and done.recorded
    pcm = await sealed_pcm(content, "vm-quiet")
    assert pcm.startswith(pcm_of(voice, 0))
    assert set(pcm[len(voice) * 2 :]) <= {0}  # only the silence after the voice
    assert 3200 + 4000 <= len(pcm) // 2 < 3200 + 8000  # ended before the silence did
    await engine.release_session("call-quiet")
    await phone.close()


async def test_playrec_hangup_during_greeting_leaves_no_object(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    phone = await feature_phone(engine, "call-gone", "caller")
    engine.start_playrec("call-gone", "caller", spec("vm-gone"))
    assert await phone.wait_received(5, 5.0)
    await phone.send_audio(g711.sweep_ulaw(0.1))  # talks over the greeting: not recorded
    assert engine.remove_leg("call-gone", "caller")  # the caller hangs up
    done, _ = await outcome(engine, "call-gone")
    assert (done.reason, done.recorded, done.samples) == (PlayRecEnd.HANGUP_IN_GREETING, False, 0)
    store = await content()
    assert await store.list(TENANT, VOICEMAIL) == []
    await engine.release_session("call-gone")
    await phone.close()


async def test_playrec_hangup_while_recording_keeps_what_was_said(
    relay: tuple[RelayEngine, LazyContentStore],
) -> None:
    engine, content = relay
    phone = await feature_phone(engine, "call-bye", "caller")
    info = engine.start_playrec("call-bye", "caller", spec("vm-bye"))
    assert await phone.wait_received(info.greeting_ms // 20, 15.0)
    sent = g711.sweep_ulaw(0.6)
    await phone.send_audio(sent)
    await eventually(lambda: engine.features.playrecs[("call-bye", "caller")].samples == 4800,
                     what="everything sent was recorded")
    await engine.release_session("call-bye")  # the call ends
    done, _ = await outcome(engine, "call-bye")
    assert (done.reason, done.recorded) == (PlayRecEnd.HANGUP, True)
    assert await sealed_pcm(content, "vm-bye") == pcm_of(sent, 0)
    await phone.close()

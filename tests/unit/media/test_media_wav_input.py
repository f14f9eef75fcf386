"""Any WAV a user has becomes 8 kHz mono µ-law (fabric.media.g711.read_wav_as_ulaw)."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from fabric.media import g711


def _tone_wav(path: Path, rate: int, channels: int, seconds: float, freq: float = 440.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for n in range(int(rate * seconds)):
            sample = int(10000 * math.sin(2 * math.pi * freq * n / rate))
            frames += struct.pack("<h", sample) * channels
        out.writeframes(bytes(frames))


def _crossings(ulaw: bytes) -> int:
    samples = g711.ulaw_decode(ulaw)
    return sum(1 for a, b in zip(samples, samples[1:], strict=False) if a < 0 <= b)


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (44100, 2), (16000, 1), (8000, 1)])
def test_a_pcm_wav_of_any_rate_and_layout_becomes_8k_mono_ulaw(
    tmp_path: Path, rate: int, channels: int
) -> None:
    path = tmp_path / f"tone-{rate}-{channels}.wav"
    _tone_wav(path, rate, channels, 1.0)
    ulaw = g711.read_wav_as_ulaw(path)
    assert abs(len(ulaw) - g711.SAMPLE_RATE) <= 64  # one second at 8 kHz
    assert 430 <= _crossings(ulaw) <= 450  # still a 440 Hz tone


def test_an_8k_ulaw_wav_is_read_as_it_is(tmp_path: Path) -> None:
    audio = g711.sweep_ulaw(0.5)
    path = tmp_path / "sweep.wav"
    g711.write_ulaw_wav(path, audio)
    assert g711.read_wav_as_ulaw(path) == audio


def test_a_file_that_is_no_wav_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(b"hello, this is text")
    with pytest.raises(ValueError, match="not a RIFF/WAVE"):
        g711.read_wav_as_ulaw(path)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(ValueError, match="broken.wav"):
        g711.read_wav_as_ulaw(broken)

"""Suites, SDES key handling, G.711 tables and WAV files (no sockets)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fabric.errors import InvalidArgument
from fabric.media import g711
from fabric.media.suites import (
    SrtpSuite,
    check_key_material,
    new_key_material,
    parse_sdes_inline,
    parse_suite,
    sdes_inline,
)
from fabric.media.types import MediaAnswer, MediaOffer


@pytest.mark.parametrize("suite", list(SrtpSuite))
def test_media_new_keys_have_suite_lengths_and_roundtrip_sdes(suite: SrtpSuite) -> None:
    key, salt = new_key_material(suite)
    check_key_material(suite, key, salt)
    assert parse_sdes_inline(suite, sdes_inline(key, salt)) == (key, salt)
    assert new_key_material(suite) != (key, salt)


def test_media_unknown_suite_names_accepted_values() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_suite("AES_CM_128_HMAC_SHA1_32")
    assert info.value.error_id == "media-unknown-suite"
    assert "AEAD_AES_256_GCM" in info.value.message


def test_media_wrong_key_length_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        check_key_material(SrtpSuite.AEAD_AES_256_GCM, b"k" * 16, b"s" * 14)
    assert info.value.error_id == "media-bad-key-length"


def test_media_keys_never_in_repr() -> None:
    key, salt = b"K" * 16, b"S" * 14
    texts = [
        repr(MediaOffer("AES_CM_128_HMAC_SHA1_80", key, salt)),
        repr(MediaAnswer("127.0.0.1", 1, "AES_CM_128_HMAC_SHA1_80", key, salt)),
    ]
    for text in texts:
        assert "KKKK" not in text and "SSSS" not in text


def test_media_ulaw_roundtrip_is_exact_up_to_zero() -> None:
    codes = bytes(range(256))
    again = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert g711.canonical_ulaw(again) == g711.canonical_ulaw(codes)
    assert g711.pcm16_to_ulaw(g711.ulaw_to_pcm16(codes)) == again


def test_media_ulaw_known_values() -> None:
    assert g711.ulaw_encode([0]) == b"\xff"
    assert g711.ULAW_TO_LINEAR[0x00] == -32124
    assert g711.ULAW_TO_LINEAR[0x80] == 32124


def test_media_ulaw_wav_roundtrip(tmp_path: Path) -> None:
    audio = g711.sweep_ulaw(0.5)
    path = tmp_path / "a.wav"
    g711.write_ulaw_wav(path, audio)
    assert g711.read_wav_as_ulaw(path) == audio
    assert len(audio) == 4000


def test_media_pcm16_wav_is_encoded_to_ulaw(tmp_path: Path) -> None:
    samples = [0, 1000, -1000, 32000, -32000]
    data = struct.pack("<5h", *samples)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 10) + data
    path = tmp_path / "p.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert g711.read_wav_as_ulaw(path) == g711.ulaw_encode(samples)


def test_media_wav_with_another_rate_is_converted(tmp_path: Path) -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    silence = b"\0\0" * 1600  # 0.1 s at 16 kHz
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(silence)) + silence
    path = tmp_path / "w.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    ulaw = g711.read_wav_as_ulaw(path)  # was refused; tests/unit/media/test_media_wav_input.py
    assert abs(len(ulaw) - 800) <= 32 and set(ulaw) <= {0xFF, 0x7F}


def test_media_sweep_frames_all_differ() -> None:
    audio = g711.sweep_ulaw(1.0)
    frames = [audio[i : i + 160] for i in range(0, len(audio), 160)]
    assert len(set(frames)) == len(frames) == 50

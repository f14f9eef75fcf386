"""G.711 A-law and µ-law (tables and the byte-table fast path), RFC 4733 key presses, frame
levels for silence, and the streamed WAV header."""

from __future__ import annotations

import struct

import pytest

from fabric.media import g711
from fabric.media.dtmf import DtmfDetector, build_event, parse_event
from fabric.media.wavstream import UNKNOWN_SIZE, parse_pcm_wav, patch_header, wav_header


def test_alaw_codes_round_trip_and_known_values() -> None:
    codes = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes  # A-law has one zero per sign
    assert g711.ALAW_TO_LINEAR[0xD5] == 8 and g711.ALAW_TO_LINEAR[0x55] == -8
    assert g711.ALAW_TO_LINEAR[0xAA] == 32256 and g711.ALAW_TO_LINEAR[0x2A] == -32256
    assert g711.alaw_encode([0, 32767, -32768]) == b"\xd5\xaa\x2a"


def test_ulaw_codes_round_trip() -> None:
    codes = bytes(range(256))
    assert g711.ulaw_encode(g711.ulaw_decode(codes)) == g711.canonical_ulaw(codes)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_fast_decode_equals_the_tables(law: str) -> None:
    codes = bytes(range(256)) * 2
    table = g711.ULAW_TO_LINEAR if law == "ulaw" else g711.ALAW_TO_LINEAR
    fast = g711.ulaw_bytes_to_pcm16 if law == "ulaw" else g711.alaw_bytes_to_pcm16
    assert fast(codes) == struct.pack(f"<{len(codes)}h", *(table[c] for c in codes))


def test_pcm_round_trip_through_alaw_stays_within_a_quantisation_step() -> None:
    samples = list(range(-32768, 32768, 97))
    back = g711.alaw_decode(g711.alaw_encode(samples))
    for s, b in zip(samples, back, strict=True):
        assert abs(s - b) <= max(16, abs(s) // 16)


def test_frame_level_tells_silence_from_voice() -> None:
    assert g711.frame_level(b"\xff" * 160, alaw=False) == 0
    assert g711.frame_level(b"\xd5" * 160, alaw=True) == 0
    voice = g711.sweep_ulaw(0.02)
    assert g711.frame_level(voice, alaw=False) > 2000
    assert g711.frame_level(g711.pcm16_to_alaw(g711.ulaw_to_pcm16(voice)), alaw=True) > 2000


def test_telephone_event_parse_and_build() -> None:
    payload = build_event("#", end=True, duration=1200, volume=7)
    event = parse_event(payload)
    assert event is not None
    assert (event.digit, event.end, event.volume, event.duration) == ("#", True, 7, 1200)
    assert parse_event(b"\x0b\x80") is None
    assert parse_event(bytes([200, 0x80, 0, 1])).digit is None  # type: ignore[union-attr]


def test_one_report_per_key_redundant_ends_ignored() -> None:
    d = DtmfDetector()
    out = []
    for ts, digit in ((1000, "1"), (3000, "#")):
        for n in range(3):
            out += d.feed(build_event(digit, False, 160 * (n + 1)), ts)
        for _ in range(3):  # the end packet, sent three times
            out += d.feed(build_event(digit, True, 800), ts)
    assert [(k.digit, k.duration_ms) for k in out] == [("1", 100), ("#", 100)]


def test_key_whose_end_packets_were_lost_is_reported_when_the_next_starts() -> None:
    d = DtmfDetector()
    assert d.feed(build_event("5", False, 160), 100) == []
    assert [k.digit for k in d.feed(build_event("7", False, 160), 900)] == ["5"]
    assert [k.digit for k in d.flush()] == ["7"]
    assert d.flush() == []


def test_same_key_twice_is_two_presses() -> None:
    d = DtmfDetector()
    first = d.feed(build_event("9", True, 400), 100)
    second = d.feed(build_event("9", True, 400), 900)
    assert [k.digit for k in first + second] == ["9", "9"]


def test_streamed_wav_header_is_readable_and_patched_exactly() -> None:
    pcm = bytes(range(200)) * 4
    streamed = wav_header(2) + pcm
    assert struct.unpack_from("<I", streamed, 40)[0] == UNKNOWN_SIZE
    assert parse_pcm_wav(streamed) == (2, 8000, pcm)
    exact = patch_header(streamed, len(streamed))
    assert exact == wav_header(2, len(pcm)) + pcm
    assert struct.unpack_from("<I", exact, 4)[0] == 36 + len(pcm)
    with pytest.raises(ValueError):
        parse_pcm_wav(b"RIFF\x00\x00\x00\x00WAVEjunk")

"""Voicemail audio format: WAV files of 16-bit signed little-endian PCM, mono, 8000 Hz.

The relay's recorder seals each message as such a WAV (``fabric.media.feature_types``), the
API streams it as it is, and an uploaded greeting must be one too
(:func:`parse_greeting_wav` checks it; the SDK converts any WAV before uploading). The
default greeting is the relay's shipped prompt (``fabric/media/prompts/``).
"""

from __future__ import annotations

import io
import struct
import wave
from functools import cache

from fabric.errors import InvalidArgument

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
BYTES_PER_S = SAMPLE_RATE * SAMPLE_WIDTH
WAV_HEADER_BYTES = 44
MAX_GREETING_BYTES = 1024 * 1024
MIN_GREETING_S = 0.5
MAX_GREETING_S = 60.0


def wav_header(pcm_bytes: int) -> bytes:
    """The 44-byte RIFF header of a mono 8 kHz 16-bit PCM file holding ``pcm_bytes``."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + pcm_bytes, b"WAVE", b"fmt ", 16, 1, 1,
        SAMPLE_RATE, BYTES_PER_S, SAMPLE_WIDTH, 16, b"data", pcm_bytes,
    )


def duration_ms(pcm_bytes: int) -> int:
    """The length of ``pcm_bytes`` of stored audio, in milliseconds."""
    return pcm_bytes * 1000 // BYTES_PER_S


def _bad(what: str) -> InvalidArgument:
    return InvalidArgument(
        f"the greeting {what}; send a WAV file of 16-bit PCM, mono, 8000 Hz, "
        f"{MIN_GREETING_S:g} to {MAX_GREETING_S:g} s (the SDK and `fabric voicemail greeting` "
        "convert any WAV)",
        error_id="invalid-greeting",
        details={"field": "wav"},
    )


def parse_greeting_wav(data: bytes) -> int:
    """Check an uploaded greeting; return its length in milliseconds.
    ``InvalidArgument invalid-greeting`` names what is wrong (not a WAV, wrong format, too
    short or too long)."""
    if len(data) > MAX_GREETING_BYTES:
        raise _bad(f"is {len(data)} bytes, over {MAX_GREETING_BYTES}")
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise _bad(f"is not a readable PCM WAV file ({exc})") from None
    if shape != (1, SAMPLE_WIDTH, SAMPLE_RATE):
        raise _bad(f"has {shape[0]} channel(s), {shape[1] * 8}-bit samples at {shape[2]} Hz")
    seconds = len(pcm) / BYTES_PER_S
    if not MIN_GREETING_S <= seconds <= MAX_GREETING_S:
        raise _bad(f"lasts {seconds:.2f} s")
    return duration_ms(len(pcm))


BEEP_MS = 400
"""The beep after the greeting (the relay's play/record leg plays it; recording starts when
it ends)."""


@cache
def default_greeting_ms() -> int:
    """The length of the relay's shipped default greeting (read once per process)."""
    from fabric.media.feature_types import DEFAULT_GREETING
    from fabric.media.prompts import load_prompt

    return duration_ms(len(load_prompt(DEFAULT_GREETING)))

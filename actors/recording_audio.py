"""Recording audio formats: tenant prompts and WAV headers.

- The shipped announcement is the media relay's own prompt
  (``fabric.media.feature_types.DEFAULT_ANNOUNCEMENT``); a tenant may replace it with a
  spoken prompt of its own.
- A tenant prompt arrives as a WAV file: 8 kHz mono, G.711 u-law or 16-bit PCM; it is kept
  as a WAV of 8 kHz mono 16-bit PCM (what the relay plays as it is). Anything else is refused
  with ``invalid-announcement`` (the CLI converts any WAV first, with
  ``fabric.media.g711.read_wav_as_ulaw``). At most :data:`MAX_ANNOUNCEMENT_S` seconds.
"""

from __future__ import annotations

import io
import wave

from fabric.errors import InvalidArgument
from fabric.media.g711 import mono_8k_ulaw_data, ulaw_to_pcm16
from fabric.media.wavstream import wav_header

SAMPLE_RATE = 8000
MAX_ANNOUNCEMENT_S = 30

__all__ = ["MAX_ANNOUNCEMENT_S", "SAMPLE_RATE", "announcement_from_wav"]


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(
        f"settings.announcement_wav {why}; send an 8 kHz mono WAV (G.711 u-law or 16-bit PCM) "
        f"of at most {MAX_ANNOUNCEMENT_S} s (`fabric recording settings --announcement FILE` "
        "converts any WAV)",
        error_id="invalid-announcement",
        details={"field": "settings.announcement_wav"},
    )


def announcement_from_wav(raw: bytes) -> bytes:
    """A tenant's prompt as a WAV of 8 kHz mono 16-bit PCM; INVALID_ARGUMENT
    invalid-announcement for anything else."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise _invalid("is not a WAV file")
    ulaw = mono_8k_ulaw_data(raw)
    if ulaw is not None:
        pcm = ulaw_to_pcm16(ulaw)
    else:
        try:
            with wave.open(io.BytesIO(raw)) as w:
                if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
                    raise _invalid("is not 8 kHz mono")
                pcm = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise _invalid(f"cannot be read ({exc})") from None
    if not pcm:
        raise _invalid("holds no audio")
    if len(pcm) > MAX_ANNOUNCEMENT_S * SAMPLE_RATE * 2:
        raise _invalid("is too long")
    return wav_header(1, len(pcm)) + pcm

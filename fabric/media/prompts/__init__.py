"""Prompts the relay plays: the shipped defaults, a synthesized beep, and callers' WAV bytes.

The shipped prompts are 8 kHz mono 16-bit PCM WAVs next to this module, made once with
``espeak-ng`` and ``sox`` (text in :data:`PROMPT_TEXT`). A prompt becomes G.711 frames with
:func:`encode_frames` once per play (not per packet). A tenant's own prompt arrives as WAV
bytes from the control plane (read from the vault): 8 kHz mono 16-bit PCM is used as it is,
anything else is decoded in memory by PyAV (FFmpeg; never a temporary file).
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from importlib import resources

from fabric.errors import InvalidArgument
from fabric.media import g711
from fabric.media.feature_types import Codec
from fabric.media.wavstream import SAMPLE_RATE, parse_pcm_wav

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
PROMPT_TEXT = {
    "default-greeting": "The person you called is not available. Please leave a message "
    "after the tone. Press pound when you are done.",
    "default-recording-announcement": "This call is being recorded.",
}


@lru_cache(maxsize=8)
def load_prompt(name: str) -> bytes:
    """A shipped prompt as 16-bit PCM (8 kHz mono); ``InvalidArgument`` for an unknown name."""
    if name not in PROMPT_TEXT:
        raise InvalidArgument(
            f"unknown prompt {name!r}; shipped prompts: {', '.join(sorted(PROMPT_TEXT))}",
            error_id="media-unknown-prompt",
        )
    data = resources.files(__package__).joinpath(f"{name}.wav").read_bytes()
    return wav_to_pcm16(data)


def beep(ms: int, freq: float = 1000.0, amplitude: int = 8000) -> bytes:
    """A sine beep of ``ms`` milliseconds (16-bit PCM, 8 kHz), faded in and out over 5 ms."""
    count = SAMPLE_RATE * ms // 1000
    fade = min(40, count // 2)
    samples = []
    for n in range(count):
        gain = min(1.0, n / fade, (count - 1 - n) / fade) if fade else 1.0
        samples.append(int(amplitude * gain * math.sin(2 * math.pi * freq * n / SAMPLE_RATE)))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


def wav_to_pcm16(data: bytes) -> bytes:
    """WAV bytes to 8 kHz mono 16-bit PCM; ``InvalidArgument`` if it cannot be read."""
    try:
        channels, rate, pcm = parse_pcm_wav(data)
        if channels == 1 and rate == SAMPLE_RATE:
            return pcm
    except ValueError:
        pass
    return _convert_with_av(data)


def _convert_with_av(data: bytes) -> bytes:
    import av  # heavy: only when a prompt needs converting

    out = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r", format="wav") as container:
            if not container.streams.audio:
                raise InvalidArgument("the prompt has no audio", error_id="media-bad-prompt")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out_frame in resampler.resample(frame):
                    out += bytes(out_frame.planes[0])[: out_frame.samples * 2]
            for out_frame in resampler.resample(None):
                out += bytes(out_frame.planes[0])[: out_frame.samples * 2]
    except av.FFmpegError as exc:
        raise InvalidArgument(
            f"the prompt is not a WAV file FFmpeg can read ({type(exc).__name__})",
            error_id="media-bad-prompt",
        ) from None
    return bytes(out)


def encode_frames(pcm: bytes, codec: Codec) -> list[bytes]:
    """16-bit PCM to 20 ms G.711 frames of ``codec`` (the last one padded with silence)."""
    encoded = g711.pcm16_to_alaw(pcm) if codec is Codec.PCMA else g711.pcm16_to_ulaw(pcm)
    silence = b"\xd5" if codec is Codec.PCMA else b"\xff"
    frames = []
    for offset in range(0, len(encoded), FRAME_SAMPLES):
        frame = encoded[offset : offset + FRAME_SAMPLES]
        frames.append(frame + silence * (FRAME_SAMPLES - len(frame)))
    return frames


def prompt_pcm(audio: bytes | None, name: str) -> bytes:
    """The PCM of a prompt: ``audio`` (WAV bytes) if given, else the shipped ``name``
    ("" = no prompt)."""
    if audio is not None:
        return wav_to_pcm16(audio)
    return load_prompt(name) if name else b""

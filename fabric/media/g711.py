"""G.711 µ-law: the codec tables and µ-law WAV files (WAVE_FORMAT_MULAW = 7).

Python's ``wave`` module reads PCM only and ``audioop`` is gone in Python 3.13, so the
µ-law tables are computed here once (ITU-T G.711, the same algorithm as Sun's g711.c), for
tests and test signals. Reading a user's WAV file (:func:`read_wav_as_ulaw`: any sample
rate, mono or stereo, 16-bit PCM, µ-law, A-law, 8-bit or float) goes through PyAV (FFmpeg,
already installed with aiortc): it decodes, downmixes, resamples to 8 kHz and encodes
µ-law. The relay never uses this: it is for the softphone and tests.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz, one byte per sample
_BIAS = 0x84
_CLIP = 32635
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_MULAW = 7


def _decode_one(code: int) -> int:
    code = ~code & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    sample = ((mantissa << 3) + _BIAS) << exponent
    sample -= _BIAS
    return -sample if sign else sample


def _encode_one(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, _CLIP) + _BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


ULAW_TO_LINEAR: tuple[int, ...] = tuple(_decode_one(c) for c in range(256))


def ulaw_decode(data: bytes) -> list[int]:
    """µ-law bytes to 16-bit linear samples."""
    return [ULAW_TO_LINEAR[b] for b in data]


def ulaw_encode(samples: list[int]) -> bytes:
    """16-bit linear samples to µ-law bytes."""
    return bytes(_encode_one(s) for s in samples)


def ulaw_to_pcm16(data: bytes) -> bytes:
    """µ-law bytes to little-endian 16-bit PCM bytes."""
    return struct.pack(f"<{len(data)}h", *ulaw_decode(data))


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Little-endian 16-bit PCM bytes to µ-law bytes."""
    count = len(data) // 2
    return ulaw_encode(list(struct.unpack(f"<{count}h", data[: 2 * count])))


def canonical_ulaw(data: bytes) -> bytes:
    """Map both µ-law zeros (0x7F, 0xFF) to 0xFF, so decode-then-encode round trips compare."""
    return data.replace(b"\x7f", b"\xff")


def write_ulaw_wav(path: Path, data: bytes) -> None:
    """Write mono 8 kHz µ-law samples as a WAV file (format 7)."""
    fmt = struct.pack("<HHIIHH", WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        body += b"\x00"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_wav_as_ulaw(path: Path) -> bytes:
    """Read any WAV file as 8 kHz mono µ-law bytes (converted unless it already is that).

    Raises ``ValueError`` naming what is wrong for a file that is not a readable WAV.
    """
    raw = path.read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path.name} is not a RIFF/WAVE file")
    ready = mono_8k_ulaw_data(raw)
    if ready is not None:
        return ready  # already G.711 µ-law at 8 kHz: the bytes as they are, no re-encoding
    return _convert_with_av(path)


def mono_8k_ulaw_data(raw: bytes) -> bytes | None:
    """The data of a mono 8 kHz µ-law WAV; None for any other WAV."""
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(raw):
        chunk_id = raw[offset : offset + 4]
        (size,) = struct.unpack_from("<I", raw, offset + 4)
        body = raw[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt == (WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, 8):
                return bytes(body)
            return None
        offset += 8 + size + (size & 1)
    return None


def _convert_with_av(path: Path) -> bytes:
    """Decode with FFmpeg (PyAV), downmix to mono, resample to 8 kHz, encode µ-law."""
    import av  # heavy: only when a file needs converting

    out = bytearray()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path.name}: no audio in this WAV file")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            encoder = av.CodecContext.create("pcm_mulaw", "w")
            encoder.format = "s16"  # type: ignore[attr-defined]
            encoder.layout = "mono"  # type: ignore[attr-defined]
            encoder.sample_rate = SAMPLE_RATE  # type: ignore[attr-defined]

            def encode(frames: list[Any]) -> None:
                for frame in frames:
                    frame.pts = None
                    for packet in encoder.encode(frame):
                        out.extend(bytes(packet))

            for frame in container.decode(audio=0):
                encode(resampler.resample(frame))
            encode(resampler.resample(None))
            for packet in encoder.encode(None):
                out.extend(bytes(packet))
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name}: not a WAV file FFmpeg can read ({exc})") from None
    return bytes(out)


def sweep_ulaw(seconds: float, amplitude: int = 12000) -> bytes:
    """A deterministic test signal: a 300-3000 Hz sweep with a step pattern, as µ-law.

    Every 20 ms frame differs from its neighbours, so a lost, repeated or reordered frame
    shows in a byte comparison.
    """
    import math

    count = int(seconds * SAMPLE_RATE)
    out = []
    phase = 0.0
    for n in range(count):
        freq = 300.0 + 2700.0 * n / max(1, count)
        phase += 2.0 * math.pi * freq / SAMPLE_RATE
        step = ((n // FRAME_SAMPLES) % 7) * 300
        out.append(int(amplitude * math.sin(phase)) + step)
    return ulaw_encode(out)


# ---- A-law, and byte-table codecs for the relay's play/record and recording paths --------

PCMA_PAYLOAD_TYPE = 8
WAVE_FORMAT_ALAW = 6


def _alaw_decode_one(code: int) -> int:
    code ^= 0x55
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    if exponent == 0:
        sample = (mantissa << 4) + 8
    else:
        sample = ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _alaw_encode_one(sample: int) -> int:
    if sample >= 0:
        sign = 0x80
    else:
        sign = 0
        sample = -sample - 1
    sample = min(sample, 32767) >> 3  # 13-bit magnitude
    if sample < 32:
        code = sample >> 1
    else:
        exponent = 1
        while sample >= 64 and exponent < 7:
            sample >>= 1
            exponent += 1
        code = (exponent << 4) | ((sample >> 1) & 0x0F)
    return (code | sign) ^ 0x55


ALAW_TO_LINEAR: tuple[int, ...] = tuple(_alaw_decode_one(c) for c in range(256))


def alaw_decode(data: bytes) -> list[int]:
    """A-law bytes to 16-bit linear samples."""
    return [ALAW_TO_LINEAR[b] for b in data]


def alaw_encode(samples: list[int]) -> bytes:
    """16-bit linear samples to A-law bytes."""
    return bytes(_alaw_encode_one(s) for s in samples)


def _split_table(linear: tuple[int, ...]) -> tuple[bytes, bytes]:
    """Low and high bytes of each code's little-endian 16-bit sample, for ``bytes.translate``."""
    lo = bytes((v & 0xFFFF) & 0xFF for v in linear)
    hi = bytes(((v & 0xFFFF) >> 8) & 0xFF for v in linear)
    return lo, hi


_ULAW_LO, _ULAW_HI = _split_table(ULAW_TO_LINEAR)
_ALAW_LO, _ALAW_HI = _split_table(ALAW_TO_LINEAR)
# (low byte, high byte) translate tables of µ-law (index False) and A-law (index True)
PCM16_TABLES: tuple[tuple[bytes, bytes], tuple[bytes, bytes]] = (
    (_ULAW_LO, _ULAW_HI),
    (_ALAW_LO, _ALAW_HI),
)
# mean-level tables: |sample| >> 7 per code (0..255), so a frame's level is sum(translate)
ULAW_LEVEL = bytes(min(255, abs(v) >> 7) for v in ULAW_TO_LINEAR)
ALAW_LEVEL = bytes(min(255, abs(v) >> 7) for v in ALAW_TO_LINEAR)


def _g711_to_pcm16(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def ulaw_bytes_to_pcm16(data: bytes) -> bytes:
    """µ-law bytes to little-endian 16-bit PCM, in C (``bytes.translate``): per-packet speed."""
    return _g711_to_pcm16(data, _ULAW_LO, _ULAW_HI)


def alaw_bytes_to_pcm16(data: bytes) -> bytes:
    """A-law bytes to little-endian 16-bit PCM, in C (``bytes.translate``)."""
    return _g711_to_pcm16(data, _ALAW_LO, _ALAW_HI)


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes to little-endian 16-bit PCM bytes (same as :func:`alaw_bytes_to_pcm16`)."""
    return alaw_bytes_to_pcm16(data)


def pcm16_to_alaw(data: bytes) -> bytes:
    """Little-endian 16-bit PCM bytes to A-law bytes."""
    count = len(data) // 2
    return alaw_encode(list(struct.unpack(f"<{count}h", data[: 2 * count])))


def frame_level(payload: bytes, alaw: bool) -> int:
    """Mean absolute sample value of a G.711 frame (0..32767, in steps of 128), in C."""
    if not payload:
        return 0
    table = ALAW_LEVEL if alaw else ULAW_LEVEL
    return (sum(payload.translate(table)) << 7) // len(payload)

"""WAV (16-bit PCM, 8 kHz) as the relay seals it: a streaming header, patched on read.

The relay streams a recording into the content store while the call goes on, so the total
length is unknown when the header is written, and a sealed object cannot be rewritten. The
choice: the header is the usual 44-byte RIFF/WAVE header with both sizes set to
``0xFFFFFFFF`` (the "unknown length" convention of streamed WAV, which FFmpeg, sox and
Python's ``wave`` read up to the end of the data). The object's exact size is in the
content store's row, so a reader that serves the WAV (the voicemail and recording APIs)
patches the two sizes from it with :func:`wav_chunks` and hands out an exact header; the
PCM bytes are exactly ``size - 44``.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Protocol

SAMPLE_RATE = 8000
HEADER_BYTES = 44
UNKNOWN_SIZE = 0xFFFFFFFF


class _Reader(Protocol):
    """What :func:`wav_chunks` needs of ``fabric.vault.content.ContentReader``."""

    @property
    def info(self) -> object:
        """The object's info (its ``size``)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Plaintext chunks in order."""
        ...


def wav_header(channels: int, data_bytes: int | None = None, rate: int = SAMPLE_RATE) -> bytes:
    """A 44-byte header for 16-bit PCM; ``data_bytes=None`` writes the unknown-length one."""
    block = 2 * channels
    if data_bytes is None:
        riff, data = UNKNOWN_SIZE, UNKNOWN_SIZE
    else:
        riff, data = 36 + data_bytes, data_bytes
    return (
        b"RIFF" + struct.pack("<I", riff) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
        + b"data" + struct.pack("<I", data)
    )


def patch_header(head: bytes, total_size: int) -> bytes:
    """``head`` (at least the 44 header bytes) with exact sizes for an object of
    ``total_size`` bytes; anything else is returned unchanged."""
    if len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[36:40] != b"data":
        return head
    data_bytes = total_size - HEADER_BYTES
    return (
        head[:4] + struct.pack("<I", 36 + data_bytes) + head[8:40]
        + struct.pack("<I", data_bytes) + head[44:]
    )


async def wav_chunks(reader: _Reader) -> AsyncIterator[bytes]:
    """A sealed recording's WAV chunks with an exact header (from the object's size)."""
    size = int(getattr(reader.info, "size"))  # noqa: B009 - a structural protocol field
    first = True
    async for chunk in reader.chunks():
        yield patch_header(chunk, size) if first else chunk
        first = False


def parse_pcm_wav(data: bytes) -> tuple[int, int, bytes]:
    """(channels, rate, PCM bytes) of a 16-bit PCM WAV, unknown sizes allowed.

    Raises ``ValueError`` for anything else (use :func:`fabric.media.prompts.wav_to_pcm16`
    for other formats).
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body_start = offset + 8
        if chunk_id == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body_start)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None or fmt[0] != 1 or fmt[3] != 16:
                raise ValueError("not 16-bit PCM")
            end = len(data) if size == UNKNOWN_SIZE else min(len(data), body_start + size)
            pcm = data[body_start:end]
            return fmt[1], fmt[2], pcm[: len(pcm) - len(pcm) % (2 * fmt[1])]
        offset = body_start + size + (size & 1)
    raise ValueError("no data chunk")

"""Placing received audio on a recording's timeline (pure logic, clock passed in).

:class:`MonoTrack` (a voicemail): one stream, positioned by RTP timestamp from its first
packet; a gap (lost packets) is filled with silence, a late or repeated packet is dropped,
a new SSRC or a timestamp jump of more than :data:`MAX_GAP_SAMPLES` continues where the
audio stopped.

:class:`ForkMixer` (a call recording): one channel per party on a common timeline, the
recording's own clock (``now`` in seconds, excluding paused spans). A stream is anchored
by the arrival time of its first packet, then positioned by RTP timestamp (so network
jitter does not move samples), and re-anchored on a new SSRC or when timestamp and
arrival disagree by more than :data:`MAX_DRIFT_SAMPLES`. Blocks are emitted interleaved
once the clock is :data:`JITTER_SAMPLES` past them (later packets for emitted blocks are
dropped and counted as ``late``); a channel with nothing for a block gets silence there.
The mixer keeps G.711 codes and decodes a block when it is emitted.
"""

from __future__ import annotations

from array import array

from fabric.media import g711

SAMPLE_RATE = 8000
MAX_GAP_SAMPLES = 5 * SAMPLE_RATE  # a voicemail gap longer than this is a timestamp jump
MAX_DRIFT_SAMPLES = 2 * SAMPLE_RATE
JITTER_SAMPLES = SAMPLE_RATE // 5  # 200 ms jitter allowance before a block is final
_ULAW_SILENCE = b"\xff"
_ALAW_SILENCE = b"\xd5"


class MonoTrack:
    """One stream's samples in order, gaps filled (see the module doc)."""

    __slots__ = ("ssrc", "ts_base", "base_pos", "written", "late", "filled")

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.ts_base = 0
        self.base_pos = 0
        self.written = 0  # samples placed so far
        self.late = 0  # packets dropped as late or repeated
        self.filled = 0  # silence samples inserted for gaps

    def place(self, ssrc: int, ts: int, pcm: bytes) -> bytes:
        """The bytes to append for this packet's PCM (silence first for a gap; b"" if late)."""
        if ssrc != self.ssrc:
            self.ssrc, self.ts_base, self.base_pos = ssrc, ts, self.written
        delta = (ts - self.ts_base) & 0xFFFFFFFF
        if delta >= 0x80000000:
            self.late += 1
            return b""
        pos = self.base_pos + delta
        if pos < self.written:
            self.late += 1
            return b""
        if pos - self.written > MAX_GAP_SAMPLES:
            self.ts_base, self.base_pos, pos = ts, self.written, self.written
        gap = pos - self.written
        self.filled += gap
        self.written = pos + len(pcm) // 2
        return bytes(2 * gap) + pcm if gap else pcm


class _Channel:
    __slots__ = ("buf", "ssrc", "ts_base", "anchor", "alaw")

    def __init__(self) -> None:
        self.buf = bytearray()  # G.711 codes (one per sample) from the mixer's ``emitted`` on
        self.ssrc: int | None = None
        self.ts_base = 0
        self.anchor = 0  # timeline position of ``ts_base``
        self.alaw = False  # the codec of the stream's last packet


class ForkMixer:
    """Several streams on one timeline, emitted interleaved (see the module doc).

    Channels buffer G.711 codes (one byte per sample) and are decoded only when a block is
    emitted, a pair of ``bytes.translate`` per channel and block: the per-packet work is
    placing bytes. A gap is filled with the codec's silence (µ-law 0xFF decodes to 0, A-law
    0xD5 to +8, its smallest level).
    """

    def __init__(self, channels: int, jitter_samples: int = JITTER_SAMPLES) -> None:
        self.channels = [_Channel() for _ in range(channels)]
        self.jitter = jitter_samples
        self.emitted = 0  # samples per channel handed out so far
        self.late = 0

    def position(self, now: float) -> int:
        """The timeline position (samples) at recording-clock time ``now``."""
        return int(now * SAMPLE_RATE)

    def reanchor_all(self) -> None:
        """Forget every stream's anchor (after a pause: positions restart from arrival)."""
        for channel in self.channels:
            channel.ssrc = None

    def put(
        self, index: int, ssrc: int, ts: int, codes: bytes, now: float, alaw: bool = False
    ) -> None:
        """Place one packet's G.711 ``codes`` of channel ``index``, received at recording
        time ``now``."""
        ch = self.channels[index]
        samples = len(codes)
        arrival_pos = int(now * SAMPLE_RATE) - samples  # the frame ends when it arrives
        if ch.ssrc == ssrc:
            pos = ch.anchor + (((ts - ch.ts_base) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if abs(pos - arrival_pos) > MAX_DRIFT_SAMPLES:
                ch.ssrc = None
        if ch.ssrc != ssrc:
            ch.ssrc, ch.ts_base = ssrc, ts
            ch.anchor = pos = max(arrival_pos, self.emitted)
        ch.alaw = alaw
        offset = pos - self.emitted
        if offset < 0:
            if offset + samples <= 0:
                self.late += 1
                return
            codes = codes[-offset:]
            offset = 0
        buf = ch.buf
        if len(buf) < offset:
            buf.extend((_ALAW_SILENCE if alaw else _ULAW_SILENCE) * (offset - len(buf)))
        buf[offset : offset + len(codes)] = codes

    def flush(self, now: float, final: bool = False) -> bytes:
        """Interleaved 16-bit PCM of every block now final (all that is buffered when
        ``final``)."""
        if final:
            target = self.emitted + max((len(c.buf) for c in self.channels), default=0)
        else:
            target = self.position(now) - self.jitter
        count = target - self.emitted
        if count <= 0:
            return b""
        self.emitted = target
        stride = 2 * len(self.channels)
        out = bytearray(stride * count)
        for i, ch in enumerate(self.channels):
            part = bytes(ch.buf[:count])
            del ch.buf[:count]
            if len(part) < count:
                part += (_ALAW_SILENCE if ch.alaw else _ULAW_SILENCE) * (count - len(part))
            lo, hi = g711.PCM16_TABLES[ch.alaw]
            out[2 * i :: stride] = part.translate(lo)
            out[2 * i + 1 :: stride] = part.translate(hi)
        return bytes(out)


def interleave(parts: list[bytes]) -> bytes:
    """Interleave equal-length 16-bit PCM channels sample by sample (one channel: as is)."""
    if len(parts) == 1:
        return parts[0]
    n = len(parts)
    out = array("h", bytes(sum(len(p) for p in parts)))
    for i, part in enumerate(parts):
        out[i::n] = array("h", part)
    return out.tobytes()


def deinterleave(pcm: bytes, channels: int) -> list[bytes]:
    """Split interleaved 16-bit PCM into its channels (tests and readers)."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % (2 * channels)])
    return [samples[i::channels].tobytes() for i in range(channels)]

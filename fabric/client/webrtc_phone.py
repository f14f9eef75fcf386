"""A WebRTC softphone on aiortc, for tests and the CLI: G.711 in, G.711 out, real WebRTC.

Unlike the relay's bridge it uses aiortc the way a browser-like client does: audio frames
are encoded by aiortc's PCMU encoder and received frames decoded by its decoder, so it
exercises ICE, DTLS-SRTP, the jitter buffer and the codec path end to end. µ-law decode then
encode is exact except that the two µ-law zeros (0x7F, 0xFF) both come back as 0xFF; compare
with :func:`fabric.media.g711.canonical_ulaw`.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from fabric.media.g711 import FRAME_SAMPLES, SAMPLE_RATE, pcm16_to_ulaw, ulaw_to_pcm16
from fabric.media.webrtc import pcmu_capabilities

_SILENCE = b"\xff" * FRAME_SAMPLES
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class UlawSourceTrack(MediaStreamTrack):
    """Plays queued µ-law audio as 20 ms s16 frames in real time; silence when idle."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._start: float | None = None
        self._frames = 0
        self.frames_played = 0

    def play(self, ulaw: bytes) -> None:
        """Queue audio to send after what is already queued."""
        self._pending += ulaw

    @property
    def idle(self) -> bool:
        """True when every queued frame has been handed to aiortc."""
        return not self._pending

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        """The next frame, paced at 20 ms."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._frames * 0.020 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = bytes(self._pending[:FRAME_SAMPLES])
        if chunk:
            del self._pending[:FRAME_SAMPLES]
            self.frames_played += 1
        chunk = chunk.ljust(FRAME_SAMPLES, b"\xff") if chunk else _SILENCE
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(ulaw_to_pcm16(chunk))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._frames * FRAME_SAMPLES
        frame.time_base = _TIME_BASE
        self._frames += 1
        return frame


class WebRtcPhone:
    """A WebRTC client: makes the SDP offer, plays µ-law, records what it receives as µ-law."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.source = UlawSourceTrack()
        transceiver = self.pc.addTransceiver(self.source, direction="sendrecv")
        transceiver.setCodecPreferences(pcmu_capabilities())
        self.received = bytearray()
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            self.received += pcm16_to_ulaw(bytes(frame.planes[0])[: frame.samples * 2])

    async def offer(self) -> str:
        """Create the SDP offer (ICE candidates gathered)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp_answer: str) -> None:
        """Apply the relay's SDP answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_answer, type="answer"))

    async def wait_connected(self, timeout: float) -> bool:
        """Wait for ICE+DTLS to connect; False on timeout or failure."""
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def wait_played(self, timeout: float) -> bool:
        """Wait until all queued audio has been sent."""
        deadline = time.monotonic() + timeout
        while not self.source.idle:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        """Close the peer connection."""
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()

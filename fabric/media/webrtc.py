"""The WebRTC leg bridge: an aiortc peer connection as one leg of a relay session.

A browser (or any WebRTC client) speaks ICE + DTLS-SRTP; aiortc terminates both inside the
media relay, and this leg hands RTP to the other legs of the session *without decoding*:

- **In** (client -> relay): aiortc decrypts SRTP, parses RTP and calls its receiver's
  ``_handle_rtp_packet``, which normally feeds a jitter buffer and a decoder thread. aiortc
  has no public hook below the codec, so the leg replaces that method **on its own receiver
  instance** with :meth:`WebRtcLeg._on_rtp`, which rebuilds the plain RTP packet (same SSRC,
  sequence number and timestamp; PCMU payload untouched) and forwards it like any leg. No
  jitter buffer, no decoder thread, no PCM. (aiortc ``>=1.9,<2``; the method name is
  checked at start and the bridge refuses to run if it changed.)
- **Out** (relay -> client): aiortc's ``RTCRtpSender`` accepts pre-encoded ``av.Packet``
  objects from a track and only packetises them (``Encoder.pack``), so
  :class:`PassthroughAudioTrack` yields the other leg's PCMU payloads as packets, timed by
  their RTP timestamps. aiortc assigns its own SSRC and sequence numbers on this side.

Only PCMU (G.711 µ-law, payload type 0) is negotiated, so no transcoding is ever needed.
RTCP on this leg is aiortc's own (sender/receiver reports); the SDES legs' RTCP is not
forwarded into it. ICE uses aioice's ephemeral ports, not the relay's port range.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from fabric.errors import InvalidArgument
from fabric.media.legs import Leg
from fabric.media.rtp import PCMU_CLOCK_RATE, PCMU_PAYLOAD_TYPE, RtpHeader, build_rtp, parse_rtp

_TIME_BASE = fractions.Fraction(1, PCMU_CLOCK_RATE)
_QUEUE_FRAMES = 50  # 1 s of 20 ms frames; older frames are dropped when the client stalls

if not hasattr(RTCRtpReceiver, "_handle_rtp_packet"):  # pragma: no cover - version guard
    raise ImportError("this aiortc has no RTCRtpReceiver._handle_rtp_packet; pin aiortc <2")


def pcmu_capabilities() -> list[Any]:
    """aiortc's codec capability for PCMU only."""
    return [
        codec
        for codec in RTCRtpSender.getCapabilities("audio").codecs
        if codec.mimeType.lower() == "audio/pcmu"
    ]


class PassthroughAudioTrack(MediaStreamTrack):
    """An audio track yielding already-encoded PCMU payloads as ``av.Packet`` objects."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(_QUEUE_FRAMES)
        self._first_ts: int | None = None
        self.dropped = 0

    def push(self, payload: bytes, timestamp: int) -> None:
        """Queue one frame with its RTP timestamp; drop the oldest if the queue is full."""
        if self._first_ts is None:
            self._first_ts = timestamp
        packet = av.Packet(payload)
        packet.pts = (timestamp - self._first_ts) & 0xFFFFFFFF
        packet.time_base = _TIME_BASE
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next frame (aiortc's sender awaits this)."""
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        """End the track."""
        super().stop()
        if not self._queue.full():
            self._queue.put_nowait(None)


class WebRtcLeg(Leg):
    """A leg whose client speaks WebRTC; bridged at the RTP level (PCMU, no decoding)."""

    __slots__ = ("pc", "track", "_closing", "connection_state")

    def __init__(self, leg_id: str) -> None:
        Leg.__init__(self, leg_id, "webrtc")
        self.pc = RTCPeerConnection()
        self.track = PassthroughAudioTrack()
        self._closing: asyncio.Task[None] | None = None
        self.connection_state = "new"

    async def accept(self, sdp_offer: str) -> str:
        """Apply the client's SDP offer; return the SDP answer (ICE candidates included)."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_offer, type="offer"))
        except ValueError as exc:
            raise InvalidArgument(
                "the WebRTC SDP offer could not be parsed; send the offer your peer "
                f"connection created ({type(exc).__name__})",
                error_id="media-bad-sdp",
            ) from None
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise InvalidArgument(
                "the WebRTC offer has no audio section", error_id="media-no-audio"
            )
        pcmu = pcmu_capabilities()
        transceiver = audio[0]
        transceiver.setCodecPreferences(pcmu)
        self.pc.addTrack(self.track)
        receiver = transceiver.receiver
        receiver._handle_rtp_packet = self._on_rtp  # type: ignore[method-assign]

        @self.pc.on("connectionstatechange")
        def _on_state() -> None:
            self.connection_state = self.pc.connectionState

        answer = await self.pc.createAnswer()
        if answer is None:  # pragma: no cover - aiortc returns one after an offer
            raise InvalidArgument("no SDP answer could be made", error_id="media-bad-sdp")
        if "PCMU" not in answer.sdp:
            raise InvalidArgument(
                "the WebRTC offer does not offer PCMU (G.711 µ-law); add it to the offer",
                error_id="media-no-pcmu",
            )
        await self.pc.setLocalDescription(answer)
        return str(self.pc.localDescription.sdp)

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int = 0) -> None:
        """Replacement of the receiver's ``_handle_rtp_packet``: forward, do not decode."""
        try:
            if packet.payload_type != PCMU_PAYLOAD_TYPE:
                self.drop_malformed += 1
                return
            plain = build_rtp(
                RtpHeader(
                    PCMU_PAYLOAD_TYPE,
                    packet.sequence_number,
                    packet.timestamp,
                    packet.ssrc,
                    bool(packet.marker),
                ),
                packet.payload,
            )
            if self.remote is None:
                self.remote = "webrtc"
            self.on_rtp(plain, time.monotonic())
        except Exception:  # noqa: BLE001 - never break aiortc's receive loop
            self.drop_malformed += 1

    def send_rtp(self, plain: bytes) -> bool:
        """Queue the payload of a plain RTP packet for aiortc to packetise and encrypt."""
        if self.connection_state != "connected":
            return False
        header, payload = parse_rtp(plain)
        self.track.push(payload, header.timestamp)
        self.packets_out += 1
        self.bytes_out += len(plain)
        return True

    def send_rtcp(self, plain: bytes) -> bool:
        """Not forwarded: aiortc sends its own RTCP on this leg."""
        return False

    def close(self) -> None:
        """Stop the track and close the peer connection (in the background)."""
        self.track.stop()
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.pc.close())

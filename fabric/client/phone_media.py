"""The softphone media client used by the SDK: one SDES-SRTP leg seen from the client.

It offers its own key (:meth:`SoftphoneMedia.offer`), learns the relay's address and key
from the answer (:meth:`start`), sends G.711 µ-law in 20 ms frames from a WAV file
(:meth:`send_wav`), presses keys as RFC 4733 telephone-events (:meth:`send_dtmf`, payload
type 101) and records what it receives (:meth:`recording`, :meth:`save_recording`).

Received audio is placed by RTP timestamp (frame = timestamp offset / 160), not by arrival,
so reordering is undone and a lost frame shows as µ-law silence (0xFF) of the right length.
The UDP socket is bound when the offer is made, and the offer carries its address
(``MediaOffer.rtp_host``/``rtp_port``, unless bound to a wildcard address), so the relay
sends the other party's first frame here before this client sent anything. :meth:`latch`
still sends an SRTCP receiver report: it latches the relay to the address the packets come
from (symmetric RTP, for a client behind NAT whose declared address is private).

With the SDK (the API carries the offer and answer as ``fabric.api.v1`` messages)::

    phone = SoftphoneMedia()
    # place or answer the call with media=offer_to_proto(phone.offer()); then, from the
    # call event that carries the leg's MediaAnswer:
    await phone.start(answer_from_proto(event.media))
    phone.latch()
    await phone.send_wav(Path("hello.wav"))      # any WAV: converted to 8 kHz µ-law
    phone.save_recording(Path("heard.wav"))      # what the other side sent, as µ-law WAV
    await phone.close()

(``offer_to_proto`` / ``answer_from_proto`` are in :mod:`fabric.media.protoconv`.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from pathlib import Path
from typing import Any, cast

import pylibsrtp

from fabric.media.dtmf import EVENT_DIGITS, build_event
from fabric.media.feature_types import DTMF_PAYLOAD_TYPE
from fabric.media.g711 import FRAME_SAMPLES, read_wav_as_ulaw, write_ulaw_wav
from fabric.media.legs import srtp_session
from fabric.media.rtp import (
    PCMU_PAYLOAD_TYPE,
    RtpHeader,
    build_receiver_report,
    build_rtp,
    is_rtcp,
    looks_like_rtp_or_rtcp,
    parse_rtp,
)
from fabric.media.suites import SrtpSuite, new_key_material
from fabric.media.types import MediaAnswer, MediaOffer

FRAME_SECONDS = 0.020
SILENCE = 0xFF


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, owner: SoftphoneMedia) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._on_datagram(data, addr)


class SoftphoneMedia:
    """Media of one softphone leg: SRTP over UDP to the relay, PCMU in 20 ms frames."""

    def __init__(
        self,
        suite: SrtpSuite = SrtpSuite.AES_CM_128_HMAC_SHA1_80,
        bind_host: str = "127.0.0.1",
    ) -> None:
        self.suite = suite
        self.bind_host = bind_host
        self._key, self._salt = new_key_material(suite)
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._tx = srtp_session(suite, self._key, self._salt, inbound=False)
        self._rx: pylibsrtp.Session | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None
        self.remote: tuple[str, int] | None = None
        self._frames: dict[int, bytes] = {}
        self._first_ts: int | None = None
        self.packets_sent = 0
        self.packets_received = 0
        self.rtcp_received = 0
        self.rejected = 0
        self._arrived = asyncio.Event()

    def offer(self) -> MediaOffer:
        """The SDES offer: suite, this client's master key and salt, and the address it
        receives on (the socket is bound here; no address for a wildcard bind)."""
        host, port = self._bound()
        if ipaddress.ip_address(host).is_unspecified:
            host, port = "", 0
        return MediaOffer(self.suite.value, self._key, self._salt, host, port)

    def _bound(self) -> tuple[str, int]:
        """Bind the UDP socket (once); its address."""
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.bind_host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind((self.bind_host, 0))
            self._sock = sock
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def local_address(self) -> tuple[str, int]:
        """The UDP address this client sends from."""
        assert self._transport is not None, "start() first"
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    async def start(self, answer: MediaAnswer) -> None:
        """Open the socket and take the relay's address and key from ``answer``."""
        suite = SrtpSuite(answer.suite)
        self._rx = srtp_session(suite, answer.master_key, answer.master_salt, inbound=True)
        self.remote = (answer.relay_host, answer.relay_port)
        loop = asyncio.get_running_loop()
        self._bound()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self), sock=self._sock
        )
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop: no subclass

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are to the relay (tests use it for replays and garbage)."""
        assert self._transport is not None and self.remote is not None, "start() first"
        self._transport.sendto(data, self.remote)

    def protect_frame(self, payload: bytes, marker: bool = False) -> bytes:
        """Build and encrypt the next RTP packet carrying ``payload`` (advances seq/ts)."""
        header = RtpHeader(PCMU_PAYLOAD_TYPE, self._seq, self._ts, self.ssrc, marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(payload)) & 0xFFFFFFFF
        return bytes(self._tx.protect(build_rtp(header, payload)))

    def latch(self) -> None:
        """Send an SRTCP receiver report so the relay latches this address."""
        self.send_raw(bytes(self._tx.protect_rtcp(build_receiver_report(self.ssrc))))

    async def send_ulaw(self, audio: bytes) -> int:
        """Send µ-law audio in 20 ms frames paced in real time; return frames sent."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        frames = 0
        for offset in range(0, len(audio), FRAME_SAMPLES):
            frame = audio[offset : offset + FRAME_SAMPLES]
            if len(frame) < FRAME_SAMPLES:
                frame = frame + bytes([SILENCE]) * (FRAME_SAMPLES - len(frame))
            self.send_raw(self.protect_frame(frame, marker=frames == 0))
            self.packets_sent += 1
            frames += 1
            delay = start + frames * FRAME_SECONDS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return frames

    async def send_wav(self, path: Path) -> int:
        """Send a WAV file (any rate, channels, PCM or µ-law; converted) as 8 kHz µ-law
        frames; return frames sent."""
        return await self.send_ulaw(read_wav_as_ulaw(path))

    async def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> int:
        """Press ``digits`` (0-9 * # A-D) as RFC 4733 telephone-events on payload type
        :data:`DTMF_PAYLOAD_TYPE` in this leg's RTP stream (same SSRC and sequence as the
        audio): per key, one packet every 20 ms with the event's start timestamp and a
        growing duration, then the end packet three times (RFC 4733 §2.5.1.4); the audio
        timestamp then moves on by the key's length. Returns packets sent."""
        sent = 0
        for digit in digits:
            if digit.upper() not in EVENT_DIGITS:
                raise ValueError(f"{digit!r} is not a DTMF key (0-9 * # A-D)")
            start = self._ts
            steps = max(1, duration_ms // 20)
            for i in range(1, steps + 3 + 1):
                end = i >= steps
                length = min(i, steps) * FRAME_SAMPLES
                header = RtpHeader(DTMF_PAYLOAD_TYPE, self._seq, start, self.ssrc, i == 1)
                self._seq = (self._seq + 1) & 0xFFFF
                packet = build_rtp(header, build_event(digit, end, length))
                self.send_raw(bytes(self._tx.protect(packet)))
                sent += 1
                if i < steps:
                    await asyncio.sleep(FRAME_SECONDS)
            self._ts = (start + steps * FRAME_SAMPLES) & 0xFFFFFFFF
            await asyncio.sleep(gap_ms / 1000)
        return sent

    def _on_datagram(self, data: bytes, addr: Any) -> None:
        if self._rx is None or addr[:2] != self.remote or not looks_like_rtp_or_rtcp(data):
            self.rejected += 1
            return
        try:
            if is_rtcp(data):
                self._rx.unprotect_rtcp(data)
                self.rtcp_received += 1
                return
            header, payload = parse_rtp(bytes(self._rx.unprotect(data)))
        except (pylibsrtp.Error, ValueError):
            self.rejected += 1
            return
        if self._first_ts is None:
            self._first_ts = header.timestamp
        index = ((header.timestamp - self._first_ts) & 0xFFFFFFFF) // FRAME_SAMPLES
        if index > 1_000_000:  # before the first frame (reordered) or absurd: ignore
            self.rejected += 1
            return
        self._frames[index] = payload
        self.packets_received += 1
        self._arrived.set()

    async def wait_received(self, frames: int, timeout: float) -> bool:
        """Wait until at least ``frames`` audio frames arrived; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.packets_received < frames:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def recording(self) -> bytes:
        """Everything received so far as µ-law, gaps filled with silence."""
        if not self._frames:
            return b""
        out = bytearray()
        for index in range(max(self._frames) + 1):
            out += self._frames.get(index, bytes([SILENCE]) * FRAME_SAMPLES)
        return bytes(out)

    def save_recording(self, path: Path) -> None:
        """Write what was received as a µ-law WAV file."""
        write_ulaw_wav(path, self.recording())

    async def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()  # it owns the socket
            self._transport = None
        elif self._sock is not None:
            self._sock.close()  # offered, never started
        self._sock = None

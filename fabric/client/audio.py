"""``CallAudio``: the SDK side of a call's media, one SDES-SRTP leg to the fabric's relay.

Wraps :class:`fabric.client.phone_media.SoftphoneMedia` with the API's messages::

    audio = CallAudio()
    info = await client.dial("101", extension="102", media=audio.offer())
    await audio.start(info.media)           # the caller's MediaAnswer is in the Dial reply
    ...                                     # (the callee's is in the Answer reply)
    await audio.wait_peer(5.0)              # the other party's phone is on the relay too
    await audio.send_wav(Path("hello.wav"))
    audio.save_recording(Path("heard.wav"))
    await audio.close()

Why the keepalive: the relay ends a call whose party sent nothing (RTP or RTCP) for
``media.media_timeout_s`` (a phone that vanished). A phone that is silent on purpose
(ringing, on hold, between prompts) sends an SRTCP receiver report every ``keepalive_s``,
as RTCP does every few seconds in real phones. Until the peer is heard it sends them
faster (``probe_s``), and it answers the first report it hears with one of its own, so
both ends learn quickly that audio will get through: the relay forwards a party's
packets only once the other party sent something (symmetric RTP latching).

Key material (ours and the relay's) never appears in ``repr``, logs or CLI output.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from fabric.api.v1 import common_pb2 as api_common
from fabric.client.phone_media import SoftphoneMedia
from fabric.errors import FailedPrecondition
from fabric.media.protoconv import answer_from_proto, offer_to_proto
from fabric.media.suites import SrtpSuite

DEFAULT_KEEPALIVE_S = 5.0
PROBE_S = 0.1


class CallAudio:
    """One party's audio in one call: offer, start, send, record, close."""

    def __init__(
        self,
        *,
        suite: SrtpSuite = SrtpSuite.AES_CM_128_HMAC_SHA1_80,
        bind_host: str = "127.0.0.1",
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        probe_s: float = PROBE_S,
    ) -> None:
        self.phone = SoftphoneMedia(suite, bind_host)
        self.keepalive_s = keepalive_s
        self.probe_s = probe_s
        self._keepalive: asyncio.Task[None] | None = None
        self._answered_peer = False

    def offer(self) -> api_common.MediaOffer:
        """The API's MediaOffer for Dial or Answer (this leg's suite and key)."""
        return offer_to_proto(self.phone.offer())

    @property
    def started(self) -> bool:
        """True once :meth:`start` opened the socket."""
        return self.phone.remote is not None

    def peer_heard(self) -> bool:
        """True once anything authenticated arrived from the relay (the peer's RTP/RTCP)."""
        return self.phone.packets_received > 0 or self.phone.rtcp_received > 0

    async def start(self, answer: api_common.MediaAnswer) -> None:
        """Open the socket toward the relay's port in ``answer``, latch, keep alive."""
        if not answer.relay_port:
            raise FailedPrecondition(
                "the call carries no media: dial/answer with media=audio.offer() "
                "on a fabric with media relays",
                error_id="call-without-media",
            )
        await self.phone.start(answer_from_proto(answer))
        self.phone.latch()
        self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        while True:
            heard = self.peer_heard()
            if heard and not self._answered_peer:
                self._answered_peer = True
                self.phone.latch()  # the peer may have latched before us: tell it we are here
            await asyncio.sleep(self.keepalive_s if heard else self.probe_s)
            self.phone.latch()

    def stop_keepalive(self) -> None:
        """Stop the receiver reports (the phone goes silent, as if it had vanished)."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def wait_peer(self, timeout_s: float) -> bool:
        """Wait until the other party is heard on the relay; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.peer_heard():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def send_ulaw(self, audio: bytes) -> int:
        """Send µ-law audio in 20 ms frames, paced in real time; return frames sent."""
        return await self.phone.send_ulaw(audio)

    async def send_wav(self, path: Path) -> int:
        """Send a WAV file (any rate, mono or stereo, PCM or µ-law: converted to 8 kHz
        µ-law); return frames sent."""
        return await self.phone.send_wav(path)

    async def wait_prompt_end(self, quiet_s: float = 0.5, timeout_s: float = 120.0) -> int:
        """Wait until a prompt the relay plays (a voicemail greeting and its beep) is over:
        frames arrived, then none for ``quiet_s``. Returns the frames heard (0 on timeout
        before any)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last, quiet_since = -1, loop.time()
        while loop.time() < deadline:
            now, frames = loop.time(), self.phone.packets_received
            if frames != last:
                last, quiet_since = frames, now
            elif frames and now - quiet_since >= quiet_s:
                return frames
            await asyncio.sleep(0.02)
        return max(0, last)

    async def send_dtmf(self, digits: str, duration_ms: int = 100) -> int:
        """Press keys (e.g. ``"#"`` to end a voicemail message) as RFC 4733 events."""
        return await self.phone.send_dtmf(digits, duration_ms)

    async def wait_received(self, frames: int, timeout_s: float) -> bool:
        """Wait until ``frames`` audio frames arrived; False on timeout."""
        return await self.phone.wait_received(frames, timeout_s)

    def recording(self) -> bytes:
        """What the other party sent, as µ-law (lost frames as silence)."""
        return self.phone.recording()

    def save_recording(self, path: Path) -> None:
        """Write what was received as a µ-law WAV."""
        self.phone.save_recording(path)

    @property
    def packets_sent(self) -> int:
        """Audio frames sent."""
        return self.phone.packets_sent

    @property
    def packets_received(self) -> int:
        """Audio frames received."""
        return self.phone.packets_received

    async def close(self) -> None:
        """Stop the keepalive and close the socket."""
        task, self._keepalive = self._keepalive, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.phone.close()

"""The play/record leg: the relay answers a caller itself (voicemail).

A :class:`PlayRecLeg` is the relay's own end of one caller's SDES leg, wired as that leg's
only peer, so the caller's packets come to :meth:`PlayRecLeg.send_rtp` instead of another
party (and count as delivered in the call's statistics). It plays the greeting and a beep
to the caller (G.711 frames of the spec's codec, paced every 20 ms on an absolute schedule,
its own SSRC), then records: each µ-law (payload type 0) or A-law (8) frame is decoded to
16-bit PCM, placed by RTP timestamp (:class:`fabric.media.timeline.MonoTrack`) and fed to a
:class:`fabric.media.sealsink.SealedWavSink` (mono WAV, sealed as it streams). Recording
ends when the caller hangs up (its leg or the session is removed), at ``max_seconds``
(cut at exactly that many samples), after ``silence_seconds`` with no voiced frame (or no
frame at all), or on an end digit (RFC 4733, :mod:`fabric.media.dtmf`). The sealed object
is created with the first recorded frame: a caller who leaves during the greeting or the
beep, or sends nothing after it, leaves no object. The outcome is one
:class:`fabric.media.feature_types.PlayRecFinished` event; every key press also gives a
:class:`fabric.media.feature_types.DtmfDetected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from fabric.media import g711
from fabric.media.dtmf import DtmfDetector
from fabric.media.feature_types import (
    DtmfDetected,
    MediaEvent,
    PlayRecEnd,
    PlayRecFinished,
    PlayRecSpec,
)
from fabric.media.legs import Leg
from fabric.media.prompts import FRAME_SAMPLES, beep, encode_frames, prompt_pcm
from fabric.media.rtp import RtpHeader, build_rtp, parse_rtp
from fabric.media.sealsink import ContentOpener, SealedWavSink, error_id_of
from fabric.media.timeline import SAMPLE_RATE, MonoTrack

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
CHECK_S = 0.05  # how often silence and the length are checked while recording


class PlayRecLeg(Leg):
    """The relay's end of a caller's leg (see the module doc)."""

    def __init__(
        self,
        call_id: str,
        caller: Leg,
        spec: PlayRecSpec,
        opener: ContentOpener,
        emit: Callable[[MediaEvent], None],
        seal_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        Leg.__init__(self, f"playrec:{caller.leg_id}", "playrec")
        self._seal_loop = seal_loop
        self.call_id = call_id
        self.caller = caller
        self.spec = spec
        self._opener = opener
        self._emit = emit
        pcm = prompt_pcm(spec.greeting, spec.greeting_prompt) + beep(max(0, spec.beep_ms))
        self._frames = encode_frames(pcm, spec.codec)
        self._pt = g711.PCMA_PAYLOAD_TYPE if spec.codec == "pcma" else 0
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._max_samples = int(spec.max_seconds * SAMPLE_RATE)
        self._track = MonoTrack()
        self._dtmf = DtmfDetector()
        self._sink: SealedWavSink | None = None
        self.recording = False
        self.samples = 0
        self.record_started_at_ms = 0
        self._last_voice = 0.0
        self._end: PlayRecEnd | None = None
        self._ended = asyncio.Event()
        self.result: PlayRecFinished | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="media-playrec")

    @property
    def greeting_ms(self) -> int:
        """Greeting and beep length."""
        return len(self._frames) * FRAME_SAMPLES * 1000 // SAMPLE_RATE

    # the caller's packets -------------------------------------------------------------

    def send_rtp(self, plain: bytes) -> bool:
        """A packet from the caller: DTMF, or audio to record. Never raises."""
        self.packets_in += 1
        try:
            self._on_packet(plain)
        except Exception:  # noqa: BLE001 - a bad packet must not stop the leg
            self.drop_malformed += 1
        return True

    def send_rtcp(self, plain: bytes) -> bool:
        """The caller's RTCP ends here."""
        return True

    def _on_packet(self, plain: bytes) -> None:
        header, payload = parse_rtp(plain)
        pt = header.payload_type
        if pt == self.spec.dtmf_payload_type:
            for key in self._dtmf.feed(payload, header.timestamp):
                self._emit(DtmfDetected(self.call_id, self.caller.leg_id, key.digit,
                                        key.duration_ms))
                if self.recording and key.digit in self.spec.end_digits:
                    self.end(PlayRecEnd.DTMF)
            return
        if not self.recording or self._end is not None or pt not in (0, g711.PCMA_PAYLOAD_TYPE):
            return
        alaw = pt == g711.PCMA_PAYLOAD_TYPE
        if g711.frame_level(payload, alaw) >= self.spec.silence_level:
            self._last_voice = time.monotonic()
        pcm = g711.alaw_bytes_to_pcm16(payload) if alaw else g711.ulaw_bytes_to_pcm16(payload)
        data = self._track.place(header.ssrc, header.timestamp, pcm)
        room = 2 * (self._max_samples - self.samples)
        if len(data) >= room:
            data = data[:room]
            self.end(PlayRecEnd.MAX_LENGTH)
        if not data:
            return
        if self._sink is None:
            self._sink = SealedWavSink(
                self._opener, self.spec.target, channels=1, seal_loop=self._seal_loop
            )
        if self._sink.feed(data):
            self.samples += len(data) // 2

    # playing and ending ---------------------------------------------------------------

    def end(self, reason: PlayRecEnd) -> None:
        """End it (the first reason wins); the outcome is emitted once sealed."""
        if self._end is None:
            self._end = reason
            self._ended.set()

    def hang_up(self) -> None:
        """The caller's leg or the session is gone."""
        self.end(PlayRecEnd.HANGUP if self.recording else PlayRecEnd.HANGUP_IN_GREETING)

    async def wait(self) -> PlayRecFinished:
        """Wait for the outcome."""
        await asyncio.shield(self._task)
        assert self.result is not None
        return self.result

    async def _run(self) -> None:
        try:
            await self._play()
            if self._end is None:
                self.recording = True
                self.record_started_at_ms = int(time.time() * 1000)
                self._last_voice = started = time.monotonic()
                while self._end is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._ended.wait(), CHECK_S)
                    now = time.monotonic()
                    silence = self.spec.silence_seconds
                    if silence > 0 and now - self._last_voice >= silence:
                        self.end(PlayRecEnd.SILENCE)
                    elif now - started >= self.spec.max_seconds + 1.0:
                        self.end(PlayRecEnd.MAX_LENGTH)  # the caller sent too little
        finally:
            self.recording = False
            await self._seal()

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, frame in enumerate(self._frames):
            if self._end is not None:
                return
            header = RtpHeader(self._pt, self._seq, self._ts, self._ssrc, marker=n == 0)
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
            self.caller.send_rtp(build_rtp(header, frame))
            if n == len(self._frames) - 1:
                return  # recording starts as the beep's last frame leaves
            delay = start + (n + 1) * FRAME_S - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), delay)

    async def _seal(self) -> None:
        reason = self._end or PlayRecEnd.STOPPED
        recorded, error_id, size = False, "", 0
        if self._sink is not None:
            try:
                await self._sink.finish()
                recorded, size = True, self._sink.bytes_fed
            except Exception as exc:  # noqa: BLE001 - reported in the event
                reason, error_id = PlayRecEnd.FAILED, error_id_of(exc)
        samples = self.samples if recorded else 0
        self.result = PlayRecFinished(
            call_id=self.call_id,
            leg_id=self.caller.leg_id,
            reason=reason,
            recorded=recorded,
            target=self.spec.target,
            samples=samples,
            duration_ms=samples * 1000 // SAMPLE_RATE,
            bytes=size,
            record_started_at_ms=self.record_started_at_ms,
            error_id=error_id,
        )
        self._emit(self.result)

    def close(self) -> None:
        """The leg is going away: the caller hung up."""
        self.hang_up()

"""The recording fork: a bridged call's decrypted audio, one channel per party, sealed.

The forwarding path only *queues*: each recorded leg gets a tap
(:attr:`fabric.media.legs.Leg.tap`) called after the packet was forwarded, which appends
``(channel, packet, arrival)`` to a bounded deque and returns; when the deque is full the
packet is not recorded and counted in ``drops`` (forwarding is never slowed or lost for
the recorder). A task on the same media loop drains the deque every
:data:`TICK_S`: telephone-events go to a per-party :class:`fabric.media.dtmf.DtmfDetector`
(each key press is a :class:`fabric.media.feature_types.DtmfDetected` event, also while
paused, so a party can object), G.711 frames are decoded and placed on the recording's
timeline (:class:`fabric.media.timeline.ForkMixer`: time-aligned channels, gaps filled
with silence), and final blocks stream into a :class:`fabric.media.sealsink.SealedWavSink`.

Announcement: when the fork starts with one, every party hears it (frames paced at 20 ms
on an SSRC of the relay's) while forwarding between the parties is muted; every channel
of the recording starts with it, as the parties heard it (G.711 decoded), and the parties'
audio is recorded from the moment it ended. Pause (hold) stops recording audio and
excludes the paused span from the timeline; resume re-anchors every stream. Stop (or the
call's end) flushes what is buffered and seals the object.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections import deque
from collections.abc import Callable

from fabric.errors import FailedPrecondition, NotFound
from fabric.media import g711
from fabric.media.dtmf import DtmfDetector
from fabric.media.feature_types import (
    Codec,
    DtmfDetected,
    ForkEnd,
    ForkFinished,
    ForkInfo,
    ForkSpec,
    MediaEvent,
)
from fabric.media.prompts import FRAME_SAMPLES, encode_frames, prompt_pcm
from fabric.media.rtp import RtpHeader, build_rtp, parse_rtp
from fabric.media.sealsink import ContentOpener, SealedWavSink, error_id_of
from fabric.media.session import RelaySession
from fabric.media.timeline import SAMPLE_RATE, ForkMixer, interleave

TICK_S = 0.1  # a fork's turn comes every TICK_S: 5 frames per party, well inside the jitter
TICK_SLOTS = 5  # the forks of a relay take their turns in 5 groups, TICK_S / 5 apart
MAX_QUEUED_PACKETS = 4096  # ~40 s of two parties; beyond, the recorder is behind: drop
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE


_TS_SSRC = struct.Struct("!II").unpack_from


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _decode(payload: bytes, alaw: bool) -> bytes:
    return g711.alaw_bytes_to_pcm16(payload) if alaw else g711.ulaw_bytes_to_pcm16(payload)


class ForkRecorder:
    """One call's recording fork (see the module doc)."""

    def __init__(
        self,
        session: RelaySession,
        spec: ForkSpec,
        opener: ContentOpener,
        emit: Callable[[MediaEvent], None],
        seal_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        channels = spec.legs or tuple(session.legs)
        missing = [leg_id for leg_id in channels if leg_id not in session.legs]
        if missing or not channels:
            raise NotFound(
                "a leg to record is not in this call's media session; record the legs the "
                "call has (or none listed = all of them)",
                error_id="media-leg-not-found",
            )
        if any(session.legs[leg_id].tap is not None for leg_id in channels):
            raise FailedPrecondition(
                "this call is already being recorded; stop that recording first",
                error_id="media-fork-exists",
            )
        self.session = session
        self.call_id = session.call_id
        self.spec = spec
        self.channels = tuple(channels)
        self._emit = emit
        self.state = "announcing"
        self.drops = 0
        self.started_at_ms = int(time.time() * 1000)
        self.announced_at_ms = 0
        self.error_id = ""
        self._queue: deque[tuple[int, bytes, float]] = deque()
        self._mixer = ForkMixer(len(self.channels))
        self._dtmf = [DtmfDetector() for _ in self.channels]
        self._segment_start = 0.0  # monotonic time the current recorded segment began
        self._segment_offset = 0.0  # recorded seconds before it
        self._stop_reason: ForkEnd | None = None
        self._pause_pending = False  # paused (held) while the announcement played
        self._sleeper: asyncio.Future[None] | None = None
        pcm = prompt_pcm(spec.announcement, spec.announcement_prompt)
        self._frames = encode_frames(pcm, spec.codec) if pcm else []
        self._sink = SealedWavSink(
            opener, spec.target, channels=len(self.channels), seal_loop=seal_loop
        )
        for index, leg_id in enumerate(self.channels):
            session.legs[leg_id].tap = self._tap_for(index)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="media-fork")
        self.finished: ForkFinished | None = None

    def _tap_for(self, index: int) -> Callable[[bytes, float], None]:
        queue = self._queue

        def tap(plain: bytes, now: float) -> None:
            if len(queue) >= MAX_QUEUED_PACKETS:
                self.drops += 1
            else:
                queue.append((index, plain, now))

        return tap

    # control ---------------------------------------------------------------------------

    def info(self) -> ForkInfo:
        """The fork's figures now."""
        fed = self._sink.bytes_fed
        return ForkInfo(
            call_id=self.call_id,
            object_id=self.spec.target.object_id,
            channels=self.channels,
            state=self.state,
            announced_at_ms=self.announced_at_ms,
            started_at_ms=self.started_at_ms,
            bytes=fed,
            duration_ms=fed // (2 * len(self.channels)) * 1000 // SAMPLE_RATE,
            drops=self.drops + self._sink.drops + self._mixer.late,
            error_id=self.error_id,
        )

    def pause(self) -> ForkInfo:
        """Stop recording audio (hold); the paused span is left out of the timeline. During
        the announcement: recording starts paused once it has played."""
        self._pause_pending = self.state == "announcing"
        if self.state == "recording":
            self._drain(time.monotonic())
            self._feed(self._mixer.flush(0.0, final=True))
            self.state = "paused"
        return self.info()

    def resume(self) -> ForkInfo:
        """Record again after a pause."""
        self._pause_pending = False
        if self.state == "paused":
            self._drain(time.monotonic())  # what was said on hold is dropped here, not recorded
            self._segment_offset = self._mixer.emitted / SAMPLE_RATE
            self._segment_start = time.monotonic()
            self._mixer.reanchor_all()
            self.state = "recording"
        return self.info()

    async def stop(self, reason: ForkEnd = ForkEnd.STOPPED) -> ForkFinished:
        """Stop, seal, and return the outcome (also emitted as an event)."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self._detach()  # nothing after the stop is queued; what was queued is recorded
            if self._sleeper is not None:
                _wake(self._sleeper)
        await asyncio.shield(self._task)
        assert self.finished is not None
        return self.finished

    # the recorder task -----------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if self._frames:
                await self._announce()
            self._queue.clear()  # what the parties said during the announcement is not kept
            self._segment_start = time.monotonic()
            if self.state == "announcing":
                self.state = "paused" if self._pause_pending else "recording"
            await self._nap(None)  # until stopped; the relay's recorder clock calls tick()
            self._drain(time.monotonic())
            if self.state == "recording":
                self._feed(self._mixer.flush(0.0, final=True))
        finally:
            await self._seal()

    async def _announce(self) -> None:
        self.announced_at_ms = int(time.time() * 1000)
        legs = [self.session.legs[leg_id] for leg_id in self.channels]
        pt = g711.PCMA_PAYLOAD_TYPE if self.spec.codec is Codec.PCMA else 0
        ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        self.session.mute(True)
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for n, frame in enumerate(self._frames):
                if self._stop_reason is not None:
                    return
                packet = build_rtp(RtpHeader(pt, seq, ts, ssrc, marker=n == 0), frame)
                seq, ts = (seq + 1) & 0xFFFF, (ts + FRAME_SAMPLES) & 0xFFFFFFFF
                for leg in legs:
                    leg.send_rtp(packet)
                self._drain(time.monotonic())  # key presses during the announcement count
                delay = start + (n + 1) * FRAME_S - loop.time()
                if delay > 0:
                    await self._nap(delay)
        finally:
            self.session.mute(False)
        heard = _decode(b"".join(self._frames), self.spec.codec is Codec.PCMA)
        self._feed(interleave([heard] * len(self.channels)))

    def tick(self, now: float) -> None:
        """One turn of the recorder: take the queued packets, emit the final blocks (the
        relay's recorder clock calls it every :data:`TICK_S`; the announcement drains itself)."""
        if self._stop_reason is not None or self.state == "announcing":
            return
        self._drain(now)
        if self.state == "recording":
            self._feed(self._mixer.flush(self._clock(now)))

    async def _nap(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until stopped), or less if stopped."""
        if self._stop_reason is None:
            loop = asyncio.get_running_loop()
            self._sleeper = loop.create_future()
            handle = loop.call_later(seconds, _wake, self._sleeper) if seconds else None
            try:
                await self._sleeper
            finally:
                if handle is not None:
                    handle.cancel()
                self._sleeper = None

    def _clock(self, now: float) -> float:
        """Recording-timeline seconds at monotonic time ``now``."""
        return self._segment_offset + (now - self._segment_start)

    def _drain(self, now: float) -> None:
        queue = self._queue
        recording = self.state == "recording"
        dtmf_pt = self.spec.dtmf_payload_type
        put = self._mixer.put
        while queue:
            index, plain, arrival = queue.popleft()
            first = plain[0]
            pt = plain[1] & 0x7F
            ts, ssrc = _TS_SSRC(plain, 4)
            if first & 0x30:  # an extension or padding: the full parser
                try:
                    payload = parse_rtp(plain)[1]
                except ValueError:
                    continue
            else:
                payload = plain[12 + 4 * (first & 0x0F) :]
            if pt == dtmf_pt:
                for key in self._dtmf[index].feed(payload, ts):
                    self._emit(DtmfDetected(self.call_id, self.channels[index], key.digit,
                                            key.duration_ms))
            elif recording and (pt == 0 or pt == 8):
                put(index, ssrc, ts, payload,
                    self._segment_offset + (arrival - self._segment_start), pt == 8)

    def _feed(self, data: bytes) -> None:
        if data:
            self._sink.feed(data)

    def _detach(self) -> None:
        for leg_id in self.channels:
            leg = self.session.legs.get(leg_id)
            if leg is not None and leg.tap is not None:
                leg.tap = None

    async def _seal(self) -> None:
        self._detach()
        self._queue.clear()
        reason = self._stop_reason or ForkEnd.STOPPED
        recorded = False
        try:
            await self._sink.finish()
            recorded = True
            self.state = "stopped"
        except Exception as exc:  # noqa: BLE001 - reported in the event
            self.state, self.error_id, reason = "failed", error_id_of(exc), ForkEnd.FAILED
        self.finished = ForkFinished(self.info(), reason, recorded)
        self._emit(self.finished)


def fork_of(forks: dict[str, ForkRecorder], call_id: str) -> ForkRecorder:
    """The call's fork, or ``NotFound`` (``media-fork-not-found``)."""
    fork = forks.get(call_id)
    if fork is None:
        raise NotFound("this call is not being recorded", error_id="media-fork-not-found")
    return fork

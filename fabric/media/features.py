"""The relay engine's media features: play/record legs and recording forks, and their events.

:class:`MediaFeatures` belongs to one :class:`fabric.media.engine.RelayEngine` and runs on
its loop. Control calls return at once (the work runs in tasks on the media loop); outcomes
and key presses are queued as events (:data:`fabric.media.feature_types.MediaEvent`, bounded:
the oldest go first when nobody drains them) and handed out once by :meth:`drain_events`,
the way media timeouts are (``actors.media_watch`` polls them and tells each call's actor).
The engine tells it when a leg is removed or a session released: a play/record leg ends
(``hangup``), a fork stops (``call-ended``) and seals what it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from fabric.errors import FailedPrecondition, NotFound
from fabric.media.feature_types import (
    DtmfDetected,
    ForkEnd,
    ForkFinished,
    ForkInfo,
    ForkSpec,
    MediaEvent,
    PlayRecEnd,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)
from fabric.media.fork import TICK_S, TICK_SLOTS, ForkRecorder, fork_of
from fabric.media.playrec import PlayRecLeg
from fabric.media.sealsink import ContentOpener, SealThread
from fabric.media.session import RelaySession

log = logging.getLogger(__name__)

MAX_EVENTS = 10_000
KEPT_OUTCOMES = 1024  # finished play/record outcomes kept for a late stop_playrec


@dataclass(slots=True)
class FeatureCounters:
    """Counters of the features (exported by ``fabric.media.metrics``; labels are fixed
    sets: data class, end reason)."""

    recordings_started: Counter[str] = field(default_factory=Counter)  # by data class
    recording_bytes: Counter[str] = field(default_factory=Counter)  # by data class
    playrec_started: int = 0
    playrec_ended: Counter[str] = field(default_factory=Counter)  # by reason
    dtmf_events: int = 0
    fork_drops: int = 0
    events_dropped: int = 0


class MediaFeatures:
    """Play/record legs and forks of one relay engine (see the module doc)."""

    def __init__(self, opener: ContentOpener | None) -> None:
        self.opener = opener
        self.seal = SealThread()  # where recordings are sealed (started on first use)
        self.playrecs: dict[tuple[str, str], PlayRecLeg] = {}
        self.forks: dict[str, ForkRecorder] = {}
        self._outcomes: OrderedDict[tuple[str, str], PlayRecFinished] = OrderedDict()
        self.counters = FeatureCounters()
        self._events: deque[MediaEvent] = deque()
        self._closing: set[asyncio.Task[object]] = set()
        self._clock: asyncio.Task[None] | None = None  # the forks' recorder clock

    def _content(self) -> ContentOpener:
        if self.opener is None:
            raise FailedPrecondition(
                "this relay has no content store to record into; start the relays with the "
                "storage and vault settings (fabric.media.relay_actor.start_media)",
                error_id="media-no-content-store",
            )
        return self.opener

    # events ----------------------------------------------------------------------------

    def emit(self, event: MediaEvent) -> None:
        """Queue an event (and count it)."""
        c = self.counters
        if isinstance(event, DtmfDetected):
            c.dtmf_events += 1
        elif isinstance(event, PlayRecFinished):
            c.playrec_ended[event.reason.value] += 1
            c.recording_bytes[event.target.data_class] += event.bytes
            if event.recorded:
                c.recordings_started[event.target.data_class] += 1
            self.playrecs.pop((event.call_id, event.leg_id), None)
            self._outcomes[(event.call_id, event.leg_id)] = event
            while len(self._outcomes) > KEPT_OUTCOMES:
                self._outcomes.popitem(last=False)
        elif isinstance(event, ForkFinished):
            c.recording_bytes[self._fork_class(event.info.call_id)] += event.info.bytes
            c.fork_drops += event.info.drops
            self.forks.pop(event.info.call_id, None)
        self._events.append(event)
        while len(self._events) > MAX_EVENTS:
            self._events.popleft()
            c.events_dropped += 1

    def _fork_class(self, call_id: str) -> str:
        fork = self.forks.get(call_id)
        return fork.spec.target.data_class if fork is not None else "recording"

    def drain_events(self) -> list[MediaEvent]:
        """Events since the last call, each handed out once."""
        out = list(self._events)
        self._events.clear()
        return out

    def active(self) -> dict[str, int]:
        """Live play/record legs and forks, and recordings being written by data class."""
        out = {"playrec": len(self.playrecs), "forks": len(self.forks)}
        for leg in list(self.playrecs.values()):
            if leg.recording:
                key = f"recording:{leg.spec.target.data_class}"
                out[key] = out.get(key, 0) + 1
        for fork in list(self.forks.values()):
            key = f"recording:{fork.spec.target.data_class}"
            out[key] = out.get(key, 0) + 1
        return out

    # play/record -----------------------------------------------------------------------

    def start_playrec(self, session: RelaySession, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Terminate ``leg_id`` at the relay: greeting, beep, record (returns at once)."""
        leg = session.legs.get(leg_id)
        if leg is None:
            raise NotFound(
                "no such leg in this call's media session; add the caller's leg first",
                error_id="media-leg-not-found",
            )
        key = (session.call_id, leg_id)
        if key in self.playrecs or leg_id in session.terminated:
            raise FailedPrecondition(
                "this leg is already answered by the relay", error_id="media-playrec-exists"
            )
        opener = self._content()
        local = PlayRecLeg(session.call_id, leg, spec, opener, self.emit, self.seal.start())
        self.playrecs[key] = local
        session.terminate(leg_id, local)
        self.counters.playrec_started += 1
        return PlayRecInfo(session.call_id, leg_id, local.greeting_ms)

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg (``stopped``; what was recorded is sealed) and return its
        outcome (also emitted as the event); one that already ended returns its outcome."""
        local = self.playrecs.get((call_id, leg_id))
        if local is None:
            done = self._outcomes.get((call_id, leg_id))
            if done is not None:
                return done
            raise NotFound("no play/record on this leg", error_id="media-playrec-not-found")
        local.end(PlayRecEnd.STOPPED)
        return await local.wait()

    # forks -----------------------------------------------------------------------------

    def start_fork(self, session: RelaySession, spec: ForkSpec) -> ForkInfo:
        """Start recording the call (announcement first, if any); returns at once."""
        if session.call_id in self.forks:
            raise FailedPrecondition(
                "this call is already being recorded; stop that recording first",
                error_id="media-fork-exists",
            )
        opener = self._content()
        fork = ForkRecorder(session, spec, opener, self.emit, self.seal.start())
        self.forks[session.call_id] = fork
        self.counters.recordings_started[spec.target.data_class] += 1
        if self._clock is None:
            self._clock = asyncio.get_running_loop().create_task(self._recorder_clock())
        return fork.info()

    async def _recorder_clock(self) -> None:
        """Give every fork a turn each ``TICK_S``, in ``TICK_SLOTS`` groups (one task and
        ``TICK_SLOTS / TICK_S`` wake-ups a second for all forks); ends with the last fork."""
        slot = 0
        try:
            while self.forks:
                await asyncio.sleep(TICK_S / TICK_SLOTS)
                now = time.monotonic()
                for n, fork in enumerate(list(self.forks.values())):
                    if n % TICK_SLOTS == slot:
                        try:
                            fork.tick(now)
                        except Exception:  # noqa: BLE001 - one bad fork must not stop the rest
                            log.exception("media: a recording fork's turn failed")
                slot = (slot + 1) % TICK_SLOTS
        finally:
            self._clock = None

    def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording (hold)."""
        return fork_of(self.forks, call_id).pause()

    def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""
        return fork_of(self.forks, call_id).resume()

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop and seal the call's recording; its final figures."""
        return (await fork_of(self.forks, call_id).stop(ForkEnd.STOPPED)).info

    # engine hooks ----------------------------------------------------------------------

    def leg_removed(self, call_id: str, leg_id: str) -> None:
        """The party left: its play/record leg ends (hang-up)."""
        local = self.playrecs.get((call_id, leg_id))
        if local is not None:
            local.hang_up()

    def session_released(self, call_id: str) -> None:
        """The call's media ended: end its play/record legs, stop and seal its fork."""
        for (cid, _), local in list(self.playrecs.items()):
            if cid == call_id:
                local.hang_up()
        fork = self.forks.get(call_id)
        if fork is not None:
            task = asyncio.get_running_loop().create_task(fork.stop(ForkEnd.CALL_ENDED))
            self._closing.add(task)  # type: ignore[arg-type]
            task.add_done_callback(self._closing.discard)  # type: ignore[arg-type]

    async def close(self) -> None:
        """End everything (the relay stops); wait for the seals."""
        waits: list[asyncio.Future[object]] = []
        for local in list(self.playrecs.values()):
            local.hang_up()
            waits.append(asyncio.ensure_future(local.wait()))
        for fork in list(self.forks.values()):
            waits.append(asyncio.ensure_future(fork.stop(ForkEnd.CALL_ENDED)))
        waits.extend(self._closing)  # type: ignore[arg-type]
        if waits:
            await asyncio.gather(*waits, return_exceptions=True)
        await self.seal.stop(self.opener)

    async def prepare(self) -> None:
        """Open the content store now (on the seal loop) rather than on the first recording."""
        opener = self._content()

        async def open_store() -> None:
            await opener()

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(open_store(), self.seal.start()))

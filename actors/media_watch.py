"""``start_media_watch``: the gateway service that turns silent media into ended calls.

The relays only mark a session timed out (a latched leg sent no RTP or RTCP for
``media.media_timeout_s``) and queue its call id; somebody has to end the call. One
long-lived loop per gateway process polls every relay in one batched call
(:meth:`fabric.media.relay_actor.MediaControl.watch_timeouts`) and tells each call's actor
``MediaTimedOut``; the CallActor ends the call with ``END_REASON_MEDIA_TIMEOUT``, releases
the session and writes the CDR. Each id is handed out once by its relay, so with one
gateway per node every timeout reaches exactly one watcher; the call actor ignores a
timeout of a call that already ended, so a duplicate (a relay restart) is harmless.

The same watcher delivers the relays' feature events (play/record legs, recording forks,
key presses; :mod:`fabric.media.features`): every :data:`EVENT_INTERVAL_S` it drains them
from every relay in one batched call and tells each call's actor the message of
``actors/messages/v1/media_events.proto`` (:func:`event_message`).

Why a gateway service: gateways are long-lived, one per node, place no virtual actors and
already own the process-wide loops of the edge; a watcher inside a call actor would need a
reminder per call and a relay round trip per call per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from google.protobuf.message import Message

from actors.call import call_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import media_events_pb2 as msg_media
from fabric.actor import ActorSystem
from fabric.config import FabricSettings
from fabric.errors import FabricError
from fabric.media.feature_types import (
    DtmfDetected,
    ForkEnd,
    MediaEvent,
    PlayRecEnd,
    PlayRecFinished,
    SealTarget,
)
from fabric.media.relay_actor import MediaControl

log = logging.getLogger(__name__)

RETRY_S = 5.0
EVENT_INTERVAL_S = 0.2

_PLAYREC_REASON = {
    PlayRecEnd.HANGUP: msg_media.PLAY_REC_END_REASON_HANGUP,
    PlayRecEnd.HANGUP_IN_GREETING: msg_media.PLAY_REC_END_REASON_HANGUP_IN_GREETING,
    PlayRecEnd.DTMF: msg_media.PLAY_REC_END_REASON_DTMF,
    PlayRecEnd.MAX_LENGTH: msg_media.PLAY_REC_END_REASON_MAX_LENGTH,
    PlayRecEnd.SILENCE: msg_media.PLAY_REC_END_REASON_SILENCE,
    PlayRecEnd.STOPPED: msg_media.PLAY_REC_END_REASON_STOPPED,
    PlayRecEnd.FAILED: msg_media.PLAY_REC_END_REASON_FAILED,
}
_FORK_REASON = {
    ForkEnd.STOPPED: msg_media.FORK_END_REASON_STOPPED,
    ForkEnd.CALL_ENDED: msg_media.FORK_END_REASON_CALL_ENDED,
    ForkEnd.FAILED: msg_media.FORK_END_REASON_FAILED,
}


def _sealed(target: SealTarget) -> msg_media.SealedObject:
    return msg_media.SealedObject(
        tenant_id=target.tenant_id, data_class=target.data_class, object_id=target.object_id
    )


def event_message(event: MediaEvent) -> tuple[str, Message]:
    """The call id and the CallActor message of a relay event."""
    if isinstance(event, DtmfDetected):
        return event.call_id, msg_media.DtmfDetected(
            call_id=event.call_id, leg_id=event.leg_id, digit=event.digit,
            duration_ms=event.duration_ms,
        )
    if isinstance(event, PlayRecFinished):
        return event.call_id, msg_media.PlayRecFinished(
            call_id=event.call_id, leg_id=event.leg_id, reason=_PLAYREC_REASON[event.reason],
            recorded=event.recorded, object=_sealed(event.target), samples=event.samples,
            duration_ms=event.duration_ms, audio_bytes=event.bytes,
            record_started_at_ms=event.record_started_at_ms, error_id=event.error_id,
        )
    info = event.info
    return info.call_id, msg_media.ForkFinished(
        call_id=info.call_id,
        object=msg_media.SealedObject(object_id=info.object_id),
        reason=_FORK_REASON[event.reason], recorded=event.recorded,
        channel_leg_ids=list(info.channels), started_at_ms=info.started_at_ms,
        announced_at_ms=info.announced_at_ms, audio_bytes=info.bytes,
        duration_ms=info.duration_ms, drops=info.drops, error_id=info.error_id,
    )


class MediaWatch:
    """The running watcher of one gateway (idle when no relays run)."""

    def __init__(self, system: ActorSystem, control: MediaControl | None, interval_s: float):
        self.system = system
        self.control = control
        self.interval_s = interval_s
        self.told = 0
        self.events_told = 0
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Task[None] | None = None
        if control is not None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(control))
            self._events = loop.create_task(self._run_events(control))

    async def on_event(self, event: MediaEvent) -> None:
        """Tell the call's actor a relay event (never raises)."""
        call_id, message = event_message(event)
        try:
            await self.system.ref(call_address(call_id)).tell(message)
            self.events_told += 1
        except FabricError as exc:
            log.warning("media event not delivered to its call: %s", exc.error_id)

    async def _run_events(self, control: MediaControl) -> None:
        while True:
            try:
                for event in await control.poll_events():
                    await self.on_event(event)
                await asyncio.sleep(EVENT_INTERVAL_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged, then the loop goes on
                log.warning("media event watch failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RETRY_S)

    async def on_timeout(self, call_id: str) -> None:
        """Tell the call's actor that its media timed out (never raises)."""
        try:
            await self.system.ref(call_address(call_id)).tell(
                msg_call.MediaTimedOut(call_id=call_id)
            )
            self.told += 1
        except FabricError as exc:
            log.warning("media timeout not delivered to its call: %s", exc.error_id)

    async def _run(self, control: MediaControl) -> None:
        while True:  # the watcher outlives relay restarts and transient errors
            try:
                await control.watch_timeouts(self.on_timeout, self.interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - logged, then the loop goes on
                log.warning("media timeout watch failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RETRY_S)

    async def stop(self) -> None:
        """Stop watching."""
        for task in (self._task, self._events):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._events = None


async def start_media_watch(
    system: ActorSystem, settings: FabricSettings, stores: object
) -> MediaWatch:
    """Gateway service: watch the relays' media timeouts (idle if no relays are running).

    ``stores`` (the process's) is not used."""
    control = MediaControl.discover()
    if control is None:
        log.info("no media relays: calls are signalling-only, no media timeout watch")
    interval = min(1.0, settings.media.media_timeout_s / 4)
    return MediaWatch(system, control, interval)

"""``start_media_watch``: the gateway service that turns silent media into ended calls.

The relays only mark a session timed out (a latched leg sent no RTP or RTCP for
``media.media_timeout_s``) and queue its call id; somebody has to end the call. One
long-lived loop per gateway process polls every relay in one batched call
(:meth:`fabric.media.relay_actor.MediaControl.watch_timeouts`) and tells each call's actor
``MediaTimedOut``; the CallActor ends the call with ``END_REASON_MEDIA_TIMEOUT``, releases
the session and writes the CDR. Each id is handed out once by its relay, so with one
gateway per node every timeout reaches exactly one watcher; the call actor ignores a
timeout of a call that already ended, so a duplicate (a relay restart) is harmless.

Why a gateway service: gateways are long-lived, one per node, place no virtual actors and
already own the process-wide loops of the edge; a watcher inside a call actor would need a
reminder per call and a relay round trip per call per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from actors.call import call_address
from actors.messages.v1 import call_pb2 as msg_call
from fabric.actor import ActorSystem
from fabric.config import FabricSettings
from fabric.errors import FabricError
from fabric.media.relay_actor import MediaControl

log = logging.getLogger(__name__)

RETRY_S = 5.0


class MediaWatch:
    """The running watcher of one gateway (idle when no relays run)."""

    def __init__(self, system: ActorSystem, control: MediaControl | None, interval_s: float):
        self.system = system
        self.control = control
        self.interval_s = interval_s
        self.told = 0
        self._task: asyncio.Task[None] | None = None
        if control is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(control))

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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


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

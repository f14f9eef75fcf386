"""The control API of the relay's media features, on both sides of the Ray call.

:class:`RelayFeatureMethods` is mixed into the relay actor
(:class:`fabric.media.relay_actor.MediaRelayActor`): each method hops to the media loop and
calls the engine. :class:`FeatureControl` is mixed into the client
(:class:`fabric.media.relay_actor.MediaControl`): each method goes to the call's relay
(the stable hash of the call id), and :meth:`FeatureControl.poll_events` drains every
relay's events in one batched call (``actors.media_watch`` polls it).

Every start returns at once; outcomes come as events
(:class:`fabric.media.feature_types.PlayRecFinished`, ``ForkFinished``, ``DtmfDetected``).
Errors (``FabricError`` with an ``error_id``): ``media-session-not-found``,
``media-leg-not-found``, ``media-playrec-exists``, ``media-playrec-not-found``,
``media-fork-exists``, ``media-fork-not-found``, ``media-no-content-store``,
``media-unknown-prompt``, ``media-bad-prompt``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fabric.media.engine import RelayEngine
from fabric.media.feature_types import (
    ForkInfo,
    ForkSpec,
    MediaEvent,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)

T = TypeVar("T")


class RelayFeatureMethods:
    """Relay actor side (needs ``_engine`` and ``_on_media_loop`` from the actor)."""

    _engine: RelayEngine

    async def _on_media_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        raise NotImplementedError  # provided by MediaRelayActor

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Answer a caller's leg at the relay: greeting, beep, record."""

        async def run() -> PlayRecInfo:
            return self._engine.start_playrec(call_id, leg_id, spec)

        return await self._on_media_loop(run())

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg; its outcome."""
        return await self._on_media_loop(self._engine.stop_playrec(call_id, leg_id))

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """Start recording a bridged call."""

        async def run() -> ForkInfo:
            return self._engine.start_fork(call_id, spec)

        return await self._on_media_loop(run())

    async def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording."""

        async def run() -> ForkInfo:
            return self._engine.pause_fork(call_id)

        return await self._on_media_loop(run())

    async def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""

        async def run() -> ForkInfo:
            return self._engine.resume_fork(call_id)

        return await self._on_media_loop(run())

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop and seal the call's recording."""
        return await self._on_media_loop(self._engine.stop_fork(call_id))

    async def drain_events(self) -> list[MediaEvent]:
        """Feature events since the last call."""

        async def run() -> list[MediaEvent]:
            return self._engine.drain_events()

        return await self._on_media_loop(run())


class FeatureControl:
    """Client side (needs ``relay_for``, ``_ask`` and ``_relays`` from ``MediaControl``)."""

    _relays: list[Any]

    def relay_for(self, call_id: str) -> Any:
        """The relay of ``call_id`` (provided by MediaControl)."""
        raise NotImplementedError

    async def _ask(self, ref: Any) -> Any:
        raise NotImplementedError  # provided by MediaControl

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Answer the caller's leg ``leg_id`` at the relay (voicemail); returns at once with
        the greeting's length; the outcome is a ``PlayRecFinished`` event."""
        relay = self.relay_for(call_id)
        result: PlayRecInfo = await self._ask(relay.start_playrec.remote(call_id, leg_id, spec))
        return result

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg now (reason ``stopped``); its outcome, sealed."""
        relay = self.relay_for(call_id)
        result: PlayRecFinished = await self._ask(relay.stop_playrec.remote(call_id, leg_id))
        return result

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """Start recording the call (one channel per leg; announcement first)."""
        result: ForkInfo = await self._ask(self.relay_for(call_id).start_fork.remote(call_id, spec))
        return result

    async def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording (hold); the paused span is not in the recording."""
        result: ForkInfo = await self._ask(self.relay_for(call_id).pause_fork.remote(call_id))
        return result

    async def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""
        result: ForkInfo = await self._ask(self.relay_for(call_id).resume_fork.remote(call_id))
        return result

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop the call's recording and wait until it is sealed; its final figures."""
        result: ForkInfo = await self._ask(self.relay_for(call_id).stop_fork.remote(call_id))
        return result

    async def poll_events(self) -> list[MediaEvent]:
        """Feature events of every relay since the last poll (each handed out once)."""
        batches = await asyncio.gather(
            *(self._ask(relay.drain_events.remote()) for relay in self._relays),
            return_exceptions=True,
        )
        out: list[MediaEvent] = []
        for batch in batches:
            if isinstance(batch, list):
                out.extend(batch)
        return out

"""The CallActor's view of media: a small interface, a no-op when no media is deployed.

Call control does not depend on the media relay. ``actors.wiring`` registers a
:class:`CallMedia` service that adapts the media helper's ``MediaControl`` when it exists;
otherwise CallActors get :data:`NO_MEDIA` and calls carry no ``MediaAnswer``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import FailedPrecondition
from fabric.media.feature_types import (
    ForkInfo,
    ForkSpec,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)


@runtime_checkable
class CallMedia(Protocol):
    """Per-call media sessions: one per call, one leg per party."""

    async def open(self, call_id: str) -> None:
        """Reserve a media session for the call."""
        ...

    async def add_leg(
        self, call_id: str, leg_id: str, offer: api_common.MediaOffer
    ) -> api_common.MediaAnswer | None:
        """Attach a party; the answer says where its SRTP goes (None = no media)."""
        ...

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        """A party left a call that goes on (blind transfer): release its leg."""
        ...

    async def close(self, call_id: str) -> dict[str, float]:
        """Release the session; return its packet statistics (empty when none)."""
        ...


@runtime_checkable
class CallMediaFeatures(Protocol):
    """The relay's media features for the control plane (voicemail, call recording).

    Registered with the same object as :class:`CallMedia` (``RelayCallMedia``): fetch it
    with ``ctx.service(CallMedia)`` and check ``isinstance(media, CallMediaFeatures)``.
    Starts return at once; outcomes arrive at the call's actor as the messages of
    ``actors/messages/v1/media_events.proto`` (``PlayRecFinished``, ``ForkFinished``,
    ``DtmfDetected``), delivered by ``actors.media_watch``. Errors: see
    ``fabric.media.feature_control``.
    """

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Answer the caller's leg at the relay: greeting, beep, record into the vault."""
        ...

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg now; its sealed outcome."""
        ...

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """Start recording a bridged call: announcement, then one channel per leg."""
        ...

    async def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording (hold)."""
        ...

    async def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""
        ...

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop the call's recording; its figures once sealed."""
        ...


def _no_media() -> FailedPrecondition:
    return FailedPrecondition(
        "no media relay is deployed: calls are signalling-only, nothing can be played or "
        "recorded (start the fabric with media)",
        error_id="media-not-deployed",
    )


class NoMedia:
    """The media interface when no media service is deployed: every call is signalling-only;
    the features raise ``FailedPrecondition`` (``media-not-deployed``)."""

    async def open(self, call_id: str) -> None:
        """Nothing to reserve."""

    async def add_leg(
        self, call_id: str, leg_id: str, offer: api_common.MediaOffer
    ) -> api_common.MediaAnswer | None:
        """No relay: no answer."""
        return None

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        """No leg to release."""

    async def close(self, call_id: str) -> dict[str, float]:
        """Nothing to release."""
        return {}

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """No relay to answer the leg."""
        raise _no_media()

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """No relay."""
        raise _no_media()

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """No relay to record."""
        raise _no_media()

    async def pause_fork(self, call_id: str) -> ForkInfo:
        """No relay."""
        raise _no_media()

    async def resume_fork(self, call_id: str) -> ForkInfo:
        """No relay."""
        raise _no_media()

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """No relay."""
        raise _no_media()


NO_MEDIA = NoMedia()

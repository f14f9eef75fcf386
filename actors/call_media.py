"""The CallActor's view of media: a small interface, a no-op when no media is deployed.

Call control does not depend on the media relay. ``actors.wiring`` registers a
:class:`CallMedia` service that adapts the media helper's ``MediaControl`` when it exists;
otherwise CallActors get :data:`NO_MEDIA` and calls carry no ``MediaAnswer``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fabric.api.v1 import common_pb2 as api_common


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


class NoMedia:
    """The media interface when no media service is deployed: every call is signalling-only."""

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


NO_MEDIA = NoMedia()

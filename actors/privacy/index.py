"""The PrivacyIndex: the open privacy requests of every tenant, for the metrics.

Kind ``privacy-index``, one key (``all``). Each tenant's PrivacyActor asks it when a request
opens or closes, so the fabric-wide count of open requests and the receipt time of the
oldest are one ask away (:func:`actors.privacy.metrics.privacy_metrics_text`) without
activating every tenant. The state holds tenant and request ids and times only.
"""

from __future__ import annotations

from actors.messages.v1 import privacy_pb2 as msg_privacy
from fabric.actor import ActorAddress, VirtualActor, handler

KIND = "privacy-index"
INDEX = ActorAddress(KIND, "all")
"""The one index."""


class PrivacyIndex(VirtualActor[str]):
    """Open requests of every tenant: "tenant/request" -> received (unix ms)."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the open requests."""
        loaded = await self.ctx.load_state(msg_privacy.PrivacyIndexState)
        self.state = loaded if loaded is not None else msg_privacy.PrivacyIndexState()

    @handler
    async def on_open(self, msg: msg_privacy.IndexRequestOpen) -> msg_privacy.PrivacyStats:
        """Count a request as open."""
        self.state.open[f"{msg.tenant_id}/{msg.request_id}"] = msg.received_at_ms
        await self.ctx.save_state(self.state)
        return self._stats()

    @handler
    async def on_closed(self, msg: msg_privacy.IndexRequestClosed) -> msg_privacy.PrivacyStats:
        """Forget a request that is no longer open."""
        key = f"{msg.tenant_id}/{msg.request_id}"
        if key in self.state.open:
            del self.state.open[key]
            await self.ctx.save_state(self.state)
        return self._stats()

    @handler
    async def on_stats(self, msg: msg_privacy.GetPrivacyStats) -> msg_privacy.PrivacyStats:
        """How many requests are open and when the oldest was received."""
        return self._stats()

    def _stats(self) -> msg_privacy.PrivacyStats:
        values = list(self.state.open.values())
        return msg_privacy.PrivacyStats(
            open=len(values), oldest_received_at_ms=min(values) if values else 0
        )

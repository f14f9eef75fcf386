"""Service factories and the names the runtime imports: what each host process gives its
actors through ``ctx.service``, and the actor types / gateway services of the fabric.

``make_services(settings)`` runs once per host process (the runtime imports it by its
"module:attr" name). It opens the CDR store (Cassandra or the embedded store, per
``storage.backend``, through ``fabric.storage.factory``) and makes the call metrics.

Media: the driver starts the relays (``fabric.media.relay_actor.start_media``, one per
node) *before* the actor system, so every host finds them by name at start and registers the
``CallMedia`` service (``RelayCallMedia``); the gateway service
``actors.media_watch:start_media_watch`` ends calls whose media went silent. With no
relays running, no ``CallMedia`` is registered and CallActors run signalling-only (see
``actors.call_media``), which is what unit tests and media-less deployments get.
"""

from __future__ import annotations

from typing import Any

from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from fabric.config import CallSettings, FabricSettings
from fabric.storage.base import CdrStore

ACTOR_TYPES = [
    "actors.tenant:TenantActor",
    "actors.call:CallActor",
    "actors.number:NumberDirectory",
    "actors.call_index:ActiveCallIndex",
]
SERVICES = ["actors.wiring:make_services"]
GATEWAY_SERVICES = ["actors.api.server:start_api", "actors.media_watch:start_media_watch"]


class _ProcessCdrStore:
    """The CDR store of ``open_stores``, closing the whole set (one connection) on close."""

    def __init__(self, stores: Any) -> None:
        self._stores = stores
        self._cdr: CdrStore = stores.cdr

    async def write(self, cdr: Any) -> None:
        """Write a CDR (idempotent by call id)."""
        await self._cdr.write(cdr)

    async def get(self, tenant_id: str, call_id: str) -> Any:
        """One CDR of a tenant."""
        return await self._cdr.get(tenant_id, call_id)

    async def query(self, tenant_id: str, start: Any, end: Any, **kw: Any) -> Any:
        """A page of a tenant's CDRs."""
        return await self._cdr.query(tenant_id, start, end, **kw)

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase a tenant's CDRs."""
        return await self._cdr.delete_tenant(tenant_id)

    async def close(self) -> None:
        """Close the stores and their connection."""
        await self._stores.close()


async def make_cdr_store(settings: FabricSettings) -> CdrStore:
    """The CDR store for ``settings.storage`` (``fabric.storage.factory.open_stores``)."""
    from fabric.storage.factory import open_stores

    return _ProcessCdrStore(await open_stores(settings.storage))


def make_call_media() -> CallMedia | None:
    """The relays as the call actor's ``CallMedia``, or None when no relay runs."""
    import ray

    from fabric.media.relay_actor import MediaControl, RelayCallMedia

    if not ray.is_initialized():
        return None
    control = MediaControl.discover()
    return RelayCallMedia(control) if control is not None else None


async def make_services(settings: FabricSettings) -> dict[type, object]:
    """Services of one host process: the CDR store, the call metrics, the call timers
    (``calls`` settings) and (when relays run) the call media."""
    services: dict[type, object] = {
        CdrStore: await make_cdr_store(settings),
        CallMetrics: CallMetrics(),
        CallSettings: settings.calls,
    }
    media = make_call_media()
    if media is not None:
        services[CallMedia] = media
    return services

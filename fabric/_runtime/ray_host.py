"""The host process: one long-lived async Ray actor that holds thousands of virtual actors.

A host is created by the driver (``RayActorSystem.start``) with a :class:`HostSpec`; actor
types, service factories and gateway services are "module:attr" strings imported here, in
the host process, so ``fabric`` never imports ``actors``. Each host process opens one set
of stores (:class:`fabric.storage.factory.Stores`: one Cassandra session, or one set of
embedded files) at start, hands it to what it runs and closes it at shutdown. Two roles:

- ``actor``: places virtual actors (an :class:`~fabric._runtime.host.ActorHost` on the
  set's state and reminder stores), makes the actors' services (each factory is
  ``(settings, stores) -> {type: service}``), scans reminders of the keys it owns,
  passivates idle actors;
- ``gateway``: runs the gateway services (each ``(system, settings, stores) -> object with
  async stop()``, e.g. the gRPC API server) and their endpoints; places no virtual actors
  and makes no actor services, so an API process never competes with call actors for its
  loop.

Start-up is lazy and idempotent (:meth:`RayHostWorker.start`): the driver calls it once, and
when Ray restarts a dead host on another node (``max_restarts``), the registry's next ping
starts it again; its actors then re-activate from persisted state on their next message or
reminder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from fabric._runtime.host import ActorHost
from fabric._runtime.loader import actor_type_table, load_symbol
from fabric._runtime.metrics import HostMetrics
from fabric._runtime.process import ProcessRouter
from fabric._runtime.registry import View, follow_membership
from fabric.clock import SystemClock
from fabric.config import FabricSettings
from fabric.errors import FabricError
from fabric.storage.factory import Stores, open_stores

log = logging.getLogger(__name__)

ACTOR_ROLE = "actor"
GATEWAY_ROLE = "gateway"


@dataclass(frozen=True)
class HostSpec:
    """Everything a host process needs to start (picklable, passed by the driver)."""

    host_id: str
    role: str
    registry_name: str
    settings: FabricSettings
    actor_types: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    gateway_services: list[str] = field(default_factory=list)
    stores: str = ""  # "module:attr" async factory (settings) -> Stores; default open_stores


async def _open_configured(settings: FabricSettings) -> Stores:
    return await open_stores(settings.storage, vault_settings=settings.vault)


class RayHostWorker:
    """The body of a host Ray actor (wrapped with ``ray.remote`` by the system)."""

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.incarnation = uuid.uuid4().hex
        self.runtime: ProcessRouter | None = None
        self._started: asyncio.Future[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._gateway_services: list[Any] = []
        self._registry: Any = None
        self._stores: Stores | None = None

    # -- start / stop ----------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Open stores, import types, make services, start loops (once per incarnation)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._start()
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started.exception()  # retrieved; callers see it below
                raise
            self._started.set_result(None)
        else:
            await asyncio.shield(self._started)
        return self.info()

    async def _start(self) -> None:
        spec = self.spec
        settings = spec.settings
        self._registry = ray.get_actor(spec.registry_name)
        opener: Callable[[FabricSettings], Awaitable[Stores]] = (
            load_symbol(spec.stores) if spec.stores else _open_configured
        )
        stores = await self._open_stores(opener, settings)
        self._stores = stores
        host: ActorHost | None = None
        if spec.role == ACTOR_ROLE:
            services: dict[type, object] = {}
            for factory_spec in spec.services:
                made = load_symbol(factory_spec)(settings, stores)
                if asyncio.iscoroutine(made):
                    made = await made
                services.update(made)
            host = ActorHost(
                spec.host_id,
                actor_type_table(spec.actor_types),
                state_store=stores.state,
                reminder_store=stores.reminders,
                clock=SystemClock(),
                settings=settings.runtime,
                services=services,
                metrics=HostMetrics(spec.host_id),
            )
        self.runtime = ProcessRouter(
            spec.host_id,
            settings=settings.runtime,
            handle=ray.get_actor,
            on_suspect=self._suspect,
            host=host,
            incarnation=self.incarnation,
            push_replies=True,  # a host takes Ray calls: answers come back with batches
        )
        self.runtime.apply_view(await self._registry.view.remote())
        loop = asyncio.get_running_loop()
        rt = settings.runtime
        self._loops.append(loop.create_task(self._watch_membership()))
        self._loops.append(loop.create_task(self._every(30.0, self._collect_garbage)))
        if host is not None:
            self._loops.append(loop.create_task(self._every(rt.reminder_poll_s, self._reminders)))
            self._loops.append(loop.create_task(self._every(rt.sweep_interval_s,
                                                            host.passivate_idle)))
        if spec.role == GATEWAY_ROLE:
            for service_spec in spec.gateway_services:
                svc = load_symbol(service_spec)(self.runtime, settings, stores)
                if asyncio.iscoroutine(svc):
                    svc = await svc
                self._gateway_services.append(svc)

    async def _open_stores(
        self, opener: Callable[[FabricSettings], Awaitable[Stores]],
        settings: FabricSettings,
    ) -> Stores:
        # hosts start together and may race on creating a shared embedded file (SQLite
        # answers "database is locked" to a concurrent first open): retry a few times
        for attempt in range(5):
            try:
                return await opener(settings)
            except Exception as exc:  # noqa: BLE001 - retried, then raised
                if attempt == 4:
                    raise
                log.warning("opening the stores failed (%s); retrying",
                            type(exc).__name__)
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def shutdown(self) -> None:
        """Stop gateway services, deactivate every actor (SHUTDOWN), close stores."""
        for svc in reversed(self._gateway_services):
            try:
                await svc.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                log.warning("gateway service stop failed: %s", type(exc).__name__)
        self._gateway_services = []
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self.runtime is not None:
            if self.runtime.host is not None:
                await self.runtime.host.stop()
            await self.runtime.close()
        if self._stores is not None:
            with contextlib.suppress(Exception):
                await self._stores.close()
            self._stores = None

    # -- Ray methods -----------------------------------------------------------------------

    async def where(self) -> str:
        """The Ray node this host runs on (before start: placement checks)."""
        return str(ray.get_runtime_context().get_node_id())

    async def ping(self, view: View) -> tuple[str, str]:
        """Liveness check from the registry, carrying the current view."""
        await self.start()
        assert self.runtime is not None
        self.runtime.apply_view(view)
        return self.incarnation, ray.get_runtime_context().get_node_id()

    async def deliver(self, batch: bytes, replies: bytes = b"", sender: str = "",
                      push: bool = False) -> bytes:
        """Enqueue a batch of envelopes (and take answers pushed by ``sender``); answer the
        refused envelopes at once."""
        runtime = self.runtime if self._started is not None and self._started.done() else None
        if runtime is None:
            await self.start()
            runtime = self.runtime
        assert runtime is not None
        return runtime.deliver(batch, replies, sender, push)

    async def poll_replies(self, caller: str, wait_s: float) -> bytes:
        """Answers ready for ``caller`` (long poll)."""
        await self.start()
        assert self.runtime is not None
        return await self.runtime.replies.poll(caller, wait_s)

    async def run(self, fn_spec: str, *args: Any) -> Any:
        """Run ``await fn(runtime, *args)`` in this host (tests, benchmarks, admin)."""
        await self.start()
        fn = load_symbol(fn_spec)
        return await fn(self.runtime, *args)

    def info(self) -> dict[str, Any]:
        """Id, role, incarnation, node, pid and resident actors of this host."""
        host = self.runtime.host if self.runtime else None
        return {
            "host_id": self.spec.host_id,
            "role": self.spec.role,
            "incarnation": self.incarnation,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "resident": len(host) if host is not None else 0,
        }

    async def metrics_text(self) -> str:
        """Prometheus text exposition of this host's runtime metrics."""
        await self.start()
        host = self.runtime.host if self.runtime else None
        return host.metrics.text() if host is not None else ""

    # -- loops -----------------------------------------------------------------------------

    def _suspect(self, host_id: str) -> None:
        if self._registry is not None:
            self._registry.suspect.remote(host_id)

    async def _watch_membership(self) -> None:
        assert self.runtime is not None
        await follow_membership(self._registry, self.runtime)

    async def _reminders(self) -> int:
        assert self.runtime is not None and self.runtime.host is not None
        return await self.runtime.host.fire_due_reminders(self.runtime.owns)

    async def _collect_garbage(self) -> int:
        assert self.runtime is not None
        return self.runtime.replies.collect_garbage(120.0)

    async def _every(self, period: float, work: Callable[[], Awaitable[int]]) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await work()
            except FabricError as exc:
                log.warning("host background work failed: %s", exc.error_id)
            except Exception as exc:  # noqa: BLE001 - a loop must not die
                log.warning("host background work failed: %s", type(exc).__name__)

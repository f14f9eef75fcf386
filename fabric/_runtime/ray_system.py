"""``RayActorSystem``: virtual actors hosted in long-lived Ray actors across the cluster.

From a driver::

    system = await RayActorSystem.start(
        settings,
        actor_types=["actors.call:CallActor", ...],
        services=["actors.wiring:make_services"],
        gateway_services=["actors.api.server:start_api"],
    )  # services: (settings, stores) -> {type: service}; gateway services:
       # (system, settings, stores) -> object with async stop(); one set of stores per host
    reply = await system.ref(ActorAddress("call", call_id)).ask(msg)
    await system.stop()

Process layout (each Ray worker process costs ~1-2 s to start and ~80 MB, so few): per
alive Ray node, ``runtime.hosts_per_node`` actor hosts and (``runtime.gateway_per_node``)
one gateway host; one registry actor on the driver's node. Hosts are pinned to their node
with a *soft* node affinity, so when a node dies Ray restarts its hosts on a surviving node
(``runtime.host_max_restarts``) and they rejoin the membership under the same ids.
``max_task_retries=0``: a message batch is never silently re-delivered by Ray; the sender
sees the failure and answers ``Unavailable`` (retryable) instead.

The driver itself holds no actors and no endpoints; its ``ref(...)`` sends through the
same batched transport as the hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any, Self

import ray
from google.protobuf.message import Message
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from fabric._runtime.endpoint import LocalEndpoint
from fabric._runtime.process import ProcessRouter
from fabric._runtime.ray_host import ACTOR_ROLE, GATEWAY_ROLE, HostSpec, RayHostWorker
from fabric._runtime.registry import Registry, View, follow_membership
from fabric.actor import ActorAddress, ActorRef
from fabric.config import FabricSettings
from fabric.errors import DeadlineExceeded, Unavailable

log = logging.getLogger(__name__)

# rounds of re-creating hosts that a soft node affinity placed on another node (~15 s)
PLACEMENT_ATTEMPTS = 10

RemoteHost = ray.remote(RayHostWorker)
RemoteRegistry = ray.remote(Registry)


class RayActorSystem:
    """The driver's handle on a running set of hosts."""

    def __init__(
        self,
        system_id: str,
        settings: FabricSettings,
        registry: Any,
        hosts: dict[str, Any],
        runtime: ProcessRouter,
    ) -> None:
        self.system_id = system_id
        self.settings = settings
        self._registry = registry
        self.hosts = hosts  # host id -> Ray actor handle
        self.runtime = runtime
        self._watch: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        settings: FabricSettings | None = None,
        *,
        actor_types: Iterable[str] = (),
        services: Iterable[str] = (),
        gateway_services: Iterable[str] = (),
        stores: str = "",
        system_id: str | None = None,
        start_timeout_s: float = 120.0,
    ) -> Self:
        """Create the registry and the hosts on every alive node; wait until all answer."""
        settings = settings or FabricSettings()
        rt = settings.runtime
        if not ray.is_initialized():
            os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # nothing leaves for third parties
            ray.init(address=rt.ray_address or None, include_dashboard=False,
                     log_to_driver=False)
        system_id = system_id or f"fabric-{uuid.uuid4().hex[:8]}"
        registry_name = f"{system_id}-registry"
        driver_node = ray.get_runtime_context().get_node_id()
        nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
        specs: list[tuple[HostSpec, str]] = []
        for n_index, node_id in enumerate(nodes):
            roles = [ACTOR_ROLE] * rt.hosts_per_node
            if rt.gateway_per_node:
                roles.append(GATEWAY_ROLE)
            for h_index, role in enumerate(roles):
                name = f"{system_id}-{'gw' if role == GATEWAY_ROLE else 'h'}{n_index}.{h_index}"
                specs.append((HostSpec(
                    host_id=name, role=role, registry_name=registry_name, settings=settings,
                    actor_types=list(actor_types), services=list(services),
                    gateway_services=list(gateway_services), stores=stores,
                ), node_id))
        hosts: dict[str, Any] = {}
        registry: Any = None

        def create(spec: HostSpec, node_id: str) -> Any:
            return RemoteHost.options(
                name=spec.host_id, num_cpus=0, max_restarts=rt.host_max_restarts,
                max_task_retries=0, max_concurrency=10_000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
            ).remote(spec)

        for spec, node_id in specs:
            hosts[spec.host_id] = create(spec, node_id)
        try:
            for attempt in range(PLACEMENT_ATTEMPTS):
                placed = await asyncio.wait_for(
                    asyncio.gather(*(hosts[sp.host_id].where.remote() for sp, _ in specs)),
                    start_timeout_s,
                )
                # a soft affinity falls back to another node when the scheduler has not
                # seen the target node's resources yet (slow on a loaded machine): re-create
                # misplaced hosts, waiting longer each round
                misplaced = [(spec, node) for (spec, node), at in zip(specs, placed, strict=True)
                             if at != node]
                if not misplaced or attempt == PLACEMENT_ATTEMPTS - 1:
                    break
                await asyncio.sleep(min(0.5 * (attempt + 1), 2.0))
                for spec, node_id in misplaced:
                    ray.kill(hosts.pop(spec.host_id), no_restart=True)
                    # a new name: the killed actor's name is released asynchronously
                    fresh = dataclasses.replace(spec, host_id=f"{spec.host_id}r{attempt + 1}")
                    specs[specs.index((spec, node_id))] = (fresh, node_id)
                    hosts[fresh.host_id] = create(fresh, node_id)
            if misplaced:
                log.warning("%d hosts are not on their intended node", len(misplaced))
            # the registry lives on the driver's node (hard affinity: if that node dies, the
            # driver is gone too) and knows the host names from birth, so a restart recovers
            registry = RemoteRegistry.options(
                name=registry_name, num_cpus=0, max_restarts=-1, max_concurrency=1000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(driver_node, soft=False),
            ).remote([(spec.host_id, spec.role) for spec, _ in specs], rt.membership_check_s)
            await asyncio.wait_for(
                asyncio.gather(*(h.start.remote() for h in hosts.values())), start_timeout_s
            )
            view: View = await registry.add.remote(
                [(spec.host_id, spec.role) for spec, _ in specs]
            )
        except BaseException:
            for handle in [*hosts.values(), registry]:
                if handle is not None:
                    with contextlib.suppress(Exception):
                        ray.kill(handle)
            raise
        runtime = ProcessRouter(
            f"{system_id}-driver-{uuid.uuid4().hex[:6]}",
            settings=rt,
            handle=ray.get_actor,
            on_suspect=lambda host_id: registry.suspect.remote(host_id),
            accepts_endpoints=False,
        )
        runtime.apply_view(view)
        system = cls(system_id, settings, registry, hosts, runtime)
        system._watch = asyncio.get_running_loop().create_task(system._watch_membership())
        return system

    # -- ActorSystem -----------------------------------------------------------------------

    def ref(self, address: ActorAddress) -> ActorRef:
        """A reference to ``address`` usable from the driver."""
        return ActorRef(address, self.runtime)

    async def open_endpoint(self) -> LocalEndpoint:
        """Not in the driver: endpoints live in host processes (use a gateway service)."""
        return await self.runtime.open_endpoint()

    async def tell(self, target: ActorAddress, message: Message) -> None:
        """Dispatcher: tell from the driver."""
        await self.runtime.tell(target, message)

    async def ask(self, target: ActorAddress, message: Message, timeout: float | None) -> Message:
        """Dispatcher: ask from the driver."""
        return await self.runtime.ask(target, message, timeout)

    # -- operations ------------------------------------------------------------------------

    @property
    def view(self) -> View:
        """The driver's current membership view."""
        return self.runtime.view

    async def refresh_view(self) -> View:
        """Fetch the registry's view now."""
        self.runtime.apply_view(await self._registry.view.remote())
        return self.runtime.view

    async def wait_for_hosts(
        self, count: int | None = None, timeout: float = 60.0, role: str = ACTOR_ROLE
    ) -> View:
        """Wait until ``count`` hosts of ``role`` (default: all) are in the view."""
        wanted = count if count is not None else sum(
            1 for h in self.hosts if (role == GATEWAY_ROLE) == ("-gw" in h))
        deadline = time.monotonic() + timeout
        while True:
            view = await self.refresh_view()
            if sum(1 for i in view.hosts.values() if i.role == role) >= wanted:
                return view
            if time.monotonic() > deadline:
                raise DeadlineExceeded(
                    f"only {len(view.hosts)} hosts alive after {timeout:g} s, wanted {wanted}",
                    error_id="runtime-hosts-not-ready",
                )
            await asyncio.sleep(0.2)

    async def host_info(self) -> list[dict[str, Any]]:
        """``info()`` of every host that answers (dead ones are skipped)."""
        out = []
        for handle in self.hosts.values():
            try:
                out.append(await asyncio.wait_for(handle.start.remote(), 10))
            except Exception:  # noqa: BLE001 - a dead host has no info
                continue
        return out

    async def run_on_host(self, host_id: str, fn_spec: str, *args: Any) -> Any:
        """Run ``await fn(runtime, *args)`` inside host ``host_id``."""
        try:
            return await self.hosts[host_id].run.remote(fn_spec, *args)
        except ray.exceptions.RayActorError as exc:
            raise Unavailable(f"host {host_id} is unavailable",
                              error_id="actor-host-unavailable") from exc

    async def metrics_text(self) -> str:
        """Every live host's Prometheus text exposition, concatenated (one scrape)."""
        parts = []
        for handle in self.hosts.values():
            with contextlib.suppress(Exception):
                parts.append(await asyncio.wait_for(handle.metrics_text.remote(), 10))
        return "".join(parts)

    async def stop(self) -> None:
        """Deactivate every actor (SHUTDOWN), stop services, kill hosts and the registry."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.runtime.close()
        with contextlib.suppress(Exception):
            await self._registry.remove.remote(list(self.hosts))
        shutdowns = [h.shutdown.remote() for h in self.hosts.values()]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*shutdowns, return_exceptions=True), 30)
        for handle in [*self.hosts.values(), self._registry]:
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)

    async def _watch_membership(self) -> None:
        await follow_membership(self._registry, self.runtime)

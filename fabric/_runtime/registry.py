"""Membership: a small named Ray actor that knows which hosts are alive.

Why a registry actor rather than Ray's GCS node table: a host can be dead while its node
lives (its process crashed) and alive again under the same name after Ray restarted it
elsewhere; what placement needs is "which host processes answer now", with an epoch that
tells every process when that set changed.

The registry pings every known host each ``check_s`` and hands it the current view in the
same call (so hosts learn membership changes within one round). A host whose ping fails
is dropped from the view (epoch + 1) but still pinged, so that when Ray restarts it, it
comes back (with a new incarnation, epoch + 1). A host declared dead for good by Ray
(``ActorDiedError``) stays out of the view until a ping answers again. Processes that see
a Ray error on a host call :meth:`Registry.suspect` to get it checked at once.

Rounds are spaced by at least ``min_gap_s``: every failed batch to a dead host calls
``suspect``, and a ping to a dead actor fails at once, so without a gap a burst of suspects
(or a host flapping between two incarnations) turned the loop into back-to-back rounds that
kept this process busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import ActorDiedError, RayError

if TYPE_CHECKING:
    from fabric._runtime.process import ProcessRouter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostInfo:
    """A live host: its role ("actor" or "gateway"), Ray node id and incarnation."""

    role: str
    node_id: str
    incarnation: str


@dataclass(frozen=True, slots=True)
class View:
    """The set of live hosts at one epoch."""

    epoch: int
    hosts: dict[str, HostInfo] = field(default_factory=dict)

    def actor_hosts(self) -> list[str]:
        """Ids of live hosts that place virtual actors, sorted."""
        return sorted(h for h, info in self.hosts.items() if info.role == "actor")


class Registry:
    """The membership actor (use through ``ray.remote``)."""

    def __init__(
        self,
        hosts: list[tuple[str, str]] | None = None,
        check_s: float = 1.0,
        ping_timeout_s: float = 5.0,
        min_gap_s: float = 0.2,
    ) -> None:
        self._check_s = check_s
        self._ping_timeout_s = ping_timeout_s
        self._min_gap_s = min(min_gap_s, check_s)
        # host id -> role; given at creation so that a registry restarted by Ray knows them
        self._known: dict[str, str] = dict(hosts or [])
        self._alive: dict[str, HostInfo] = {}
        # epochs start from the clock so that views of a restarted registry still compare
        # newer than the ones processes hold
        self._epoch = time.time_ns() // 1_000_000
        self._changed: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._handles: dict[str, Any] = {}
        self._check_now: asyncio.Event | None = None

    def _view(self) -> View:
        return View(self._epoch, dict(self._alive))

    def _ensure_loop(self) -> None:
        if self._loop_task is None:
            self._changed = asyncio.Event()
            self._check_now = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def add(self, hosts: list[tuple[str, str]]) -> View:
        """Start watching ``(host id, role)`` pairs; return the view after pinging them."""
        self._ensure_loop()
        for host_id, role in hosts:
            self._known[host_id] = role
        await self._round()
        return self._view()

    async def remove(self, host_ids: list[str]) -> View:
        """Stop watching hosts (the system is stopping them)."""
        for host_id in host_ids:
            self._known.pop(host_id, None)
            self._handles.pop(host_id, None)
            if self._alive.pop(host_id, None) is not None:
                self._bump()
        return self._view()

    async def view(self) -> View:
        """The current view."""
        return self._view()

    async def pid(self) -> int:
        """This process's id (CPU accounting in benchmarks)."""
        return os.getpid()

    async def wait_change(self, epoch: int, timeout: float) -> View:
        """Return when the epoch differs from ``epoch`` or after ``timeout`` seconds."""
        self._ensure_loop()
        assert self._changed is not None
        if self._epoch == epoch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self._view()

    async def suspect(self, host_id: str) -> None:
        """A process saw a Ray error on ``host_id``: check everyone now."""
        self._ensure_loop()
        assert self._check_now is not None
        self._check_now.set()

    def _bump(self) -> None:
        self._epoch += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _run(self) -> None:
        assert self._check_now is not None
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._check_now.clear()  # suspects from now on ask for the next round
            changed = await self._round()
            if not changed:  # a change re-checks soon (the new view is already out)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._check_now.wait(), self._check_s)
            gap = self._min_gap_s - (loop.time() - started)
            if gap > 0:
                await asyncio.sleep(gap)

    async def _round(self) -> bool:
        before = self._epoch
        view = self._view()
        hosts = list(self._known)
        results = await asyncio.gather(*(self._ping(h, view) for h in hosts))
        for host_id, result in zip(hosts, results, strict=True):
            if host_id not in self._known:
                continue
            if isinstance(result, HostInfo):
                if self._alive.get(host_id) != result:
                    self._alive[host_id] = result
                    self._bump()
            else:
                if self._alive.pop(host_id, None) is not None:
                    log.warning("actor host %s left the membership (%s)", host_id, result)
                    self._bump()
                if result == "died":
                    self._handles.pop(host_id, None)  # look the name up again next round
        return self._epoch != before

    async def _ping(self, host_id: str, view: View) -> HostInfo | str:
        try:
            handle = self._handles.get(host_id)
            if handle is None:
                handle = self._handles[host_id] = ray.get_actor(host_id)
            incarnation, node_id = await asyncio.wait_for(
                handle.ping.remote(view), self._ping_timeout_s
            )
            return HostInfo(self._known.get(host_id, "actor"), node_id, incarnation)
        except ActorDiedError:
            return "died"
        except TimeoutError:
            return "timeout"
        except (RayError, ValueError) as exc:
            return type(exc).__name__


async def follow_membership(registry: Any, runtime: ProcessRouter) -> None:
    """Apply every new membership view the registry publishes, until cancelled.

    Long-polls ``wait_change`` (5 s); while the registry restarts, the call fails and is
    retried after a second.
    """
    while True:
        try:
            view = await registry.wait_change.remote(runtime.view.epoch, 5.0)
            runtime.apply_view(view)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - registry restarting: retry
            log.warning("membership watch failed: %s", type(exc).__name__)
            await asyncio.sleep(1.0)

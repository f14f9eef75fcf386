"""The media relay Ray actor and the control client the call actor uses.

:class:`MediaRelayActor` (a Ray actor; one or more per node) owns a UDP port range and runs
a :class:`fabric.media.engine.RelayEngine` on a **uvloop loop of its own, in a thread of its
own**. Ray's async actor loop only carries control calls, which hop to the media loop with
``run_coroutine_threadsafe``: the packet path never waits behind a Ray method call, and the
media loop is uvloop whatever loop Ray chose. A relay that crashes is restarted by Ray
(``max_restarts=-1``) with an empty session table; its sockets died with the process, so no
port leaks, and calls that still ask for their session get ``media-session-not-found``.

:class:`MediaControl` is the async client (picklable, usable in any Ray worker or driver):
it picks a relay by a stable hash of the call id, so every method for one call lands on the
same relay and ``allocate_session`` is idempotent.

Media timeout, the chosen contract: the relay marks a session timed out when a latched leg
sent nothing (RTP or RTCP) for ``media_timeout_s``. The call side learns it either by
polling all relays in one batched call (:meth:`MediaControl.poll_timeouts`, each id reported
once; :meth:`MediaControl.watch_timeouts` runs that poll in a loop and awaits a callback per
call id), or per call from :meth:`MediaControl.session_status` (``timed_out``, ``reason ==
"media-timeout"``). The call actor then ends the call with that reason, releases the
session and writes the CDR with :meth:`fabric.media.types.MediaStatsReport.cdr_fields`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import ray
import uvloop
from prometheus_client import CollectorRegistry, generate_latest
from ray.exceptions import RayActorError, RayTaskError

from fabric.api.v1 import common_pb2 as api_common
from fabric.config import MediaSettings, StorageSettings, VaultSettings
from fabric.errors import FabricError, Internal, Unavailable
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.feature_control import FeatureControl, RelayFeatureMethods
from fabric.media.feature_types import (
    ForkInfo,
    ForkSpec,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)
from fabric.media.metrics import register_relay_metrics
from fabric.media.protoconv import answer_to_proto, offer_from_proto
from fabric.media.sealsink import LazyContentStore
from fabric.media.types import (
    MediaAnswer,
    MediaOffer,
    MediaStatsReport,
    SessionInfo,
    SessionStatus,
)

T = TypeVar("T")

RELAY_NAME = "media-relay-{index}"


class MediaRelayActor(RelayFeatureMethods):
    """A media relay: a port range, a uvloop thread and the relay sessions of many calls.

    ``content`` (the storage and vault settings) lets it record (voicemail, call
    recordings): the content store is opened in the relay's process on the first recording.
    """

    def __init__(
        self,
        config: RelayConfig,
        export_metrics: bool = False,
        content: LazyContentStore | None = None,
    ) -> None:
        self._loop = uvloop.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, name=f"media-relay-{config.relay_index}", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        self._engine = RelayEngine(config, content)
        self._loop.call_soon_threadsafe(self._engine.start)
        self._registry = CollectorRegistry()
        register_relay_metrics(self._engine, self._registry)
        if export_metrics:  # also visible to a process-wide /metrics server, if one runs
            register_relay_metrics(self._engine)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    async def _on_media_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return await asyncio.wrap_future(future)

    async def allocate_session(self, call_id: str) -> SessionInfo:
        """Create (or return) the call's session."""

        async def run() -> SessionInfo:
            return self._engine.allocate_session(call_id)

        return await self._on_media_loop(run())

    async def add_leg(self, call_id: str, leg_id: str, offer: MediaOffer) -> MediaAnswer:
        """Open an SDES-SRTP leg; answer with the relay's address, port and key."""
        return await self._on_media_loop(self._engine.add_leg(call_id, leg_id, offer))

    async def add_webrtc_leg(self, call_id: str, leg_id: str, sdp_offer: str) -> str:
        """Open a WebRTC leg from an SDP offer; return the SDP answer."""
        return await self._on_media_loop(self._engine.add_webrtc_leg(call_id, leg_id, sdp_offer))

    async def remove_leg(self, call_id: str, leg_id: str) -> bool:
        """Close one leg of a live call (its party left); False if there was none."""

        async def run() -> bool:
            return self._engine.remove_leg(call_id, leg_id)

        return await self._on_media_loop(run())

    async def release_session(self, call_id: str) -> MediaStatsReport:
        """Close the call's legs, free their ports, return the per-leg statistics."""
        return await self._on_media_loop(self._engine.release_session(call_id))

    async def session_status(self, call_id: str) -> SessionStatus:
        """Liveness, timeout flag and statistics of the call's session."""

        async def run() -> SessionStatus:
            return self._engine.session_status(call_id)

        return await self._on_media_loop(run())

    async def drain_timeouts(self) -> list[str]:
        """Call ids whose media timed out since the last call."""

        async def run() -> list[str]:
            return self._engine.drain_timeouts()

        return await self._on_media_loop(run())

    async def counts(self) -> dict[str, int]:
        """Live sessions, legs, ports in use (for tests and health checks)."""

        async def run() -> dict[str, int]:
            await asyncio.sleep(0)  # let closed transports report connection_lost
            return self._engine.counts()

        return await self._on_media_loop(run())

    async def totals(self) -> dict[str, Any]:
        """Aggregated counters over every session of this relay."""

        async def run() -> dict[str, Any]:
            totals = self._engine.totals()
            return {k: getattr(totals, k) for k in type(totals).__slots__}

        return await self._on_media_loop(run())

    async def metrics_text(self) -> str:
        """This relay's Prometheus text exposition (gathered by the metrics endpoint)."""
        return generate_latest(self._registry).decode()

    async def shutdown(self) -> None:
        """Release every session and stop the media loop."""
        await self._on_media_loop(self._engine.close())  # seals and closes the content store
        self._loop.call_soon_threadsafe(self._loop.stop)


MediaRelay = ray.remote(max_restarts=-1, max_task_retries=0)(MediaRelayActor)


def relays_per_node(settings: MediaSettings, cores: float | None = None) -> int:
    """``media.relays_per_node``, where 0 (the default) means one relay per CPU core the
    node has to itself (``cores``, else this machine's): each relay's compiled data plane is
    one thread that can fill one core; a second relay per core would only add context
    switches, since the loop already batches (recvmmsg/sendmmsg)."""
    if settings.relays_per_node > 0:
        return settings.relays_per_node
    return max(1, int(cores if cores is not None else (os.cpu_count() or 1)))


def _cores_per_node(alive: list[dict[str, Any]]) -> float:
    """The fewest cores any alive node has to itself: its Ray CPU resource, at most this
    machine's cores, shared among the Ray nodes on the same machine (a local cluster)."""
    machine = os.cpu_count() or 1
    per_address: dict[str, int] = {}
    for node in alive:
        address = str(node.get("NodeManagerAddress", ""))
        per_address[address] = per_address.get(address, 0) + 1
    return min(
        (
            min(float(n.get("Resources", {}).get("CPU", machine)), machine)
            / per_address[str(n.get("NodeManagerAddress", ""))]
            for n in alive
        ),
        default=1.0,
    )


def relay_configs(settings: MediaSettings, relays: int) -> list[RelayConfig]:
    """Split the node's port range evenly between ``relays`` relays."""
    span = (settings.port_max - settings.port_min + 1) // relays
    if span < 2:
        raise FabricError(
            "media.port_min..port_max is too small for media.relays_per_node relays",
            error_id="media-bad-port-range",
        )
    return [
        RelayConfig(
            relay_index=i,
            bind_host=settings.bind_host,
            public_host=settings.public_host,
            port_min=settings.port_min + i * span,
            port_max=settings.port_min + (i + 1) * span - 1,
            media_timeout_s=settings.media_timeout_s,
            latch_timeout_s=settings.latch_timeout_s,
            orphan_grace_s=max(60.0, 4 * settings.media_timeout_s),
            sweep_interval_s=min(1.0, settings.media_timeout_s / 4),
        )
        for i in range(relays)
    ]


def content_of(
    storage: StorageSettings | None, vault: VaultSettings | None
) -> LazyContentStore | None:
    """What a relay needs to record: the storage settings (and the vault's, default ones
    if not given); None (no recording) without storage settings."""
    return LazyContentStore(storage, vault or VaultSettings()) if storage is not None else None


def start_media_relays(
    settings: MediaSettings,
    relays: int | None = None,
    *,
    num_cpus: float = 0,
    export_metrics: bool = False,
    content: LazyContentStore | None = None,
) -> list[Any]:
    """Start (or find) the named relay actors ``media-relay-<i>``; return their handles."""
    count = relays if relays is not None else relays_per_node(settings)
    handles = []
    for config in relay_configs(settings, count):
        handles.append(
            MediaRelay.options(  # type: ignore[attr-defined]
                name=RELAY_NAME.format(index=config.relay_index),
                get_if_exists=True,
                num_cpus=num_cpus,
                max_concurrency=1000,
            ).remote(config, export_metrics, content)
        )
    return handles


def start_media_relays_on_every_node(
    settings: MediaSettings,
    *,
    num_cpus: float = 0,
    export_metrics: bool = False,
    content: LazyContentStore | None = None,
) -> list[Any]:
    """Start ``media.relays_per_node`` relays pinned to each alive Ray node.

    Relays are numbered across the cluster (``media-relay-0..n-1``) and the port range is
    split between all of them, so several nodes sharing one machine (local clusters, tests)
    never contend for a port; on separate machines the split only narrows each range.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive")]
    nodes = sorted(n["NodeID"] for n in alive)
    per_node = relays_per_node(settings, _cores_per_node(alive))
    configs = relay_configs(settings, per_node * len(nodes))
    handles = []
    for config in configs:
        node_id = nodes[config.relay_index // per_node]
        handles.append(
            MediaRelay.options(  # type: ignore[attr-defined]
                name=RELAY_NAME.format(index=config.relay_index),
                get_if_exists=True,
                num_cpus=num_cpus,
                max_concurrency=1000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
            ).remote(config, export_metrics, content)
        )
    return handles


async def start_media(
    settings: MediaSettings,
    *,
    storage: StorageSettings | None = None,
    vault: VaultSettings | None = None,
) -> MediaControl:
    """Start the relays on every node (driver side) and wait until each answers.

    With ``storage`` (and ``vault``) settings the relays can record (voicemail, call
    recordings) into the sealed content store; without, recording is refused.
    """
    handles = start_media_relays_on_every_node(settings, content=content_of(storage, vault))
    await asyncio.gather(*(h.counts.remote() for h in handles))
    return MediaControl(handles)


async def stop_media(control: MediaControl) -> None:
    """Release every session, stop and kill the relays (driver side)."""
    for relay in control.relays:
        try:
            await asyncio.wait_for(relay.shutdown.remote(), 5.0)
        except (RayActorError, RayTaskError, TimeoutError):
            pass  # a dead or restarting relay: killing it frees its sockets anyway
        ray.kill(relay, no_restart=True)


class RelayCallMedia:
    """The call actor's media service (``actors.call_media.CallMedia`` and
    ``CallMediaFeatures``) on the relays.

    Converts the API's ``MediaOffer``/``MediaAnswer`` messages and returns the CDR's media
    fields from :meth:`close`.
    """

    def __init__(self, control: MediaControl) -> None:
        self.control = control

    async def open(self, call_id: str) -> None:
        """Reserve the call's relay session."""
        await self.control.allocate_session(call_id)

    async def add_leg(
        self, call_id: str, leg_id: str, offer: api_common.MediaOffer
    ) -> api_common.MediaAnswer | None:
        """Open the party's SRTP leg; the answer goes into its call events."""
        answer = await self.control.add_leg(call_id, leg_id, offer_from_proto(offer))
        return answer_to_proto(answer)

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        """A party left the call (blind transfer): close its leg and free its port."""
        await self.control.remove_leg(call_id, leg_id)

    async def close(self, call_id: str) -> dict[str, float]:
        """Release the session; the CDR's packets_sent/received/lost and jitter_ms."""
        report = await self.control.release_session(call_id)
        return {k: float(v) for k, v in report.cdr_fields().items()}

    # media features (actors.call_media.CallMediaFeatures) --------------------------------

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Answer the caller's leg at the relay (voicemail): greeting, beep, record."""
        return await self.control.start_playrec(call_id, leg_id, spec)

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg now; its sealed outcome."""
        return await self.control.stop_playrec(call_id, leg_id)

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """Start recording the call (announcement first)."""
        return await self.control.start_fork(call_id, spec)

    async def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording (hold)."""
        return await self.control.pause_fork(call_id)

    async def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""
        return await self.control.resume_fork(call_id)

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop and seal the call's recording."""
        return await self.control.stop_fork(call_id)


class MediaControl(FeatureControl):
    """Async client of the media relays, used by the call actor (picklable); the feature
    methods (play/record, forks, events) come from
    :class:`fabric.media.feature_control.FeatureControl`."""

    def __init__(self, relays: Sequence[Any]) -> None:
        if not relays:
            raise Internal("MediaControl needs at least one relay", error_id="media-no-relays")
        self._relays = list(relays)

    @property
    def relays(self) -> list[Any]:
        """The relay actor handles."""
        return list(self._relays)

    @classmethod
    def from_names(cls, count: int, namespace: str | None = None) -> MediaControl:
        """Find the relays ``media-relay-0..count-1`` by name."""
        return cls(
            [ray.get_actor(RELAY_NAME.format(index=i), namespace=namespace) for i in range(count)]
        )

    @classmethod
    def discover(cls) -> MediaControl | None:
        """The relays ``media-relay-0..n-1`` of this Ray namespace, or None if none run.

        Host processes use it at start, so the relay count need not be configured twice
        (it is ``media.relays_per_node`` times the nodes alive when the relays started).
        """
        names = set(ray.util.list_named_actors())
        count = 0
        while RELAY_NAME.format(index=count) in names:
            count += 1
        return cls.from_names(count) if count else None

    def relay_for(self, call_id: str) -> Any:
        """The relay of ``call_id`` (a stable hash, so every call goes to one relay)."""
        return self._relays[zlib.crc32(call_id.encode()) % len(self._relays)]

    async def _ask(self, ref: Any) -> Any:
        try:
            return await ref
        except RayTaskError as exc:
            cause = exc.cause if hasattr(exc, "cause") else None
            if isinstance(cause, FabricError):
                raise cause from None
            raise Internal(
                "a media relay failed; see its log", error_id="media-relay-error"
            ) from exc
        except RayActorError as exc:
            raise Unavailable(
                "the media relay is down (restarting); retry the call",
                error_id="media-relay-unavailable",
            ) from exc

    async def allocate_session(self, call_id: str) -> SessionInfo:
        """Create the call's relay session (idempotent per call id)."""
        result: SessionInfo = await self._ask(
            self.relay_for(call_id).allocate_session.remote(call_id)
        )
        return result

    async def add_leg(self, call_id: str, leg_id: str, offer: MediaOffer) -> MediaAnswer:
        """Add an SDES-SRTP leg: the client's offer in, the relay's answer out."""
        relay = self.relay_for(call_id)
        result: MediaAnswer = await self._ask(relay.add_leg.remote(call_id, leg_id, offer))
        return result

    async def add_webrtc_leg(self, call_id: str, leg_id: str, sdp_offer: str) -> str:
        """Add a WebRTC leg (SDP offer in, SDP answer out)."""
        relay = self.relay_for(call_id)
        result: str = await self._ask(relay.add_webrtc_leg.remote(call_id, leg_id, sdp_offer))
        return result

    async def remove_leg(self, call_id: str, leg_id: str) -> bool:
        """Close one leg of a live call and free its port (idempotent; False if none)."""
        result: bool = await self._ask(self.relay_for(call_id).remove_leg.remote(call_id, leg_id))
        return result

    async def counts(self) -> dict[str, int]:
        """Live sessions, legs and ports in use, summed over every relay."""
        each = await asyncio.gather(*(self._ask(r.counts.remote()) for r in self._relays))
        total: dict[str, int] = {}
        for counts in each:
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
        return total

    async def release_session(self, call_id: str) -> MediaStatsReport:
        """Release the call's session and ports; return per-leg statistics (idempotent)."""
        result: MediaStatsReport = await self._ask(
            self.relay_for(call_id).release_session.remote(call_id)
        )
        return result

    async def session_status(self, call_id: str) -> SessionStatus:
        """The call's media state, including ``timed_out`` / ``reason``."""
        result: SessionStatus = await self._ask(
            self.relay_for(call_id).session_status.remote(call_id)
        )
        return result

    async def poll_timeouts(self) -> list[str]:
        """Call ids whose media timed out since the last poll, from every relay at once."""
        batches = await asyncio.gather(
            *(self._ask(relay.drain_timeouts.remote()) for relay in self._relays),
            return_exceptions=True,
        )
        out: list[str] = []
        for batch in batches:
            if isinstance(batch, list):
                out.extend(batch)
        return out

    async def metrics_text(self) -> str:
        """Every relay's Prometheus exposition, concatenated (series differ by ``relay``)."""
        texts = await asyncio.gather(
            *(self._ask(relay.metrics_text.remote()) for relay in self._relays),
            return_exceptions=True,
        )
        return "".join(t for t in texts if isinstance(t, str))

    async def watch_timeouts(
        self, on_timeout: Callable[[str], Awaitable[None]], interval_s: float = 1.0
    ) -> None:
        """Poll for timeouts forever, awaiting ``on_timeout(call_id)`` for each (cancel to stop)."""
        while True:
            for call_id in await self.poll_timeouts():
                await on_timeout(call_id)
            await asyncio.sleep(interval_s)

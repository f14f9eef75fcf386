"""The transcription pool on Ray: a queue actor, its worker actors and the result delivery.

Shape, and why:

- :class:`TranscriptionWorkerActor` (``transcription.workers`` Ray actors, ``num_cpus=0``,
  restarted by Ray) holds one engine and the content store, and runs one try of one job at
  a time. It lowers its own scheduling priority (``nice`` 10): transcription is batch work
  and must never take CPU from the media relays or the call actors on the same node. It is
  no virtual actor either: a job holds a CPU for seconds, which would stall every actor
  sharing a host's event loop.
- :class:`TranscriptionPoolActor` (one named Ray actor, ``transcription-pool``) holds the
  bounded :class:`~actors.transcription.queue.TranscriptionQueue` (statuses, retries,
  backoff) with one slot per worker. A worker killed mid-job fails the try with
  ``RayActorError``; the queue retries it on the restarted worker after the backoff, and
  the job stays PENDING meanwhile (its transcript is sealed idempotently, so a try that
  died after sealing is counted DONE, not twice).
- Results wait in the pool's outbox until a gateway's :class:`ResultDelivery` loop (the
  gateway service :func:`start_transcription`) takes them on a lease, *tells* each to its
  job's ``reply_to`` actor through the actor system, and acknowledges them; a result whose
  tell failed (or whose gateway died) is handed out again when its lease ends: delivery is
  at least once.

The queue lives in the pool's memory: if the pool process itself dies, pending jobs are
forgotten (a status query answers None) and their owners submit them again (submits are
idempotent by job id). Nothing personal is logged: job ids and error ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.queue import Outcome, TranscriptionQueue
from actors.transcription.service import policy_of
from actors.transcription.work import run_job
from fabric.actor import ActorAddress, ActorSystem
from fabric.config import FabricSettings
from fabric.errors import FabricError, Internal, Unavailable
from fabric.transcribe.engine import EngineError, SpeechEngine
from fabric.vault.content import ContentStore

log = logging.getLogger(__name__)

POOL_NAME = "transcription-pool"
DEFAULT_ENGINE = "fabric.transcribe.whisper:engine_from_settings"
WORKER_NICE = 10


async def open_content(
    settings: FabricSettings,
) -> tuple[ContentStore, Callable[[], Awaitable[None]]]:
    """The vault's content store alone (no CDR store, no spool), and how to close it."""
    from fabric.vault.factory import open_vault

    storage = settings.storage
    if storage.backend == "cassandra":
        from fabric.storage.cassandra_content import CassandraContentBackend
        from fabric.storage.cassandra_session import connect_sync

        conn = await asyncio.to_thread(connect_sync, storage)
        vault = await open_vault(storage, settings.vault, connection=conn)
        backend: Any = CassandraContentBackend(conn)
        await backend.prepare()

        async def close_cassandra() -> None:
            await vault.close()
            conn.shutdown()

        return ContentStore(vault, backend), close_cassandra
    from fabric.storage.sqlite_content import SqliteContentBackend

    vault = await open_vault(storage, settings.vault)
    store = ContentStore(vault, SqliteContentBackend(storage.data_dir))

    async def close_embedded() -> None:
        await store.close()
        await vault.close()

    return store, close_embedded


def load_engine_spec(spec: str) -> Callable[..., SpeechEngine]:
    """Import a ``module:attr`` engine factory (called with ``TranscriptionSettings``)."""
    module, _, attr = spec.partition(":")
    factory: Callable[..., SpeechEngine] = getattr(importlib.import_module(module), attr)
    return factory


class TranscriptionWorkerActor:
    """One engine and the content store in a low-priority process; see the module doc."""

    def __init__(self, settings: FabricSettings, engine_spec: str = DEFAULT_ENGINE) -> None:
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICE)
        self._settings = settings
        self._engine_spec = engine_spec
        self._engine: SpeechEngine | None = None
        self._engine_error: FabricError | None = None
        self._content: ContentStore | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> ContentStore:
        async with self._lock:
            if self._content is None:
                settings = self._settings.transcription
                try:
                    factory = load_engine_spec(self._engine_spec)
                    self._engine = await asyncio.to_thread(factory, settings)
                except EngineError as exc:
                    self._engine_error = exc
                    log.warning("transcription engine not loaded: %s", exc.error_id)
                self._content, _ = await open_content(self._settings)
            return self._content

    async def run(self, job: msg_tx.TranscriptionJob) -> Outcome:
        """One try of ``job`` (opens the store and loads the engine on first use)."""
        content = await self._ready()
        return await run_job(job, self._engine, content,
                             language=self._settings.transcription.language,
                             engine_error=self._engine_error)

    def pid(self) -> int:
        """This worker's process id (tests)."""
        return os.getpid()


TranscriptionWorker = ray.remote(max_restarts=-1, max_task_retries=0)(TranscriptionWorkerActor)


class _RayRunner:
    """Runs a try on the worker of its slot; a lost worker is a retryable failure."""

    def __init__(self, workers: list[Any]) -> None:
        self.workers = workers

    async def run(self, job: msg_tx.TranscriptionJob, slot: int) -> Outcome:
        ref = self.workers[slot].run.remote(job)
        try:
            outcome: Outcome = await ref
        except asyncio.CancelledError:  # the try timed out (or the pool stops): stop it too
            with contextlib.suppress(Exception):
                ray.cancel(ref)
            raise
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FabricError):
                raise cause from None
            raise Internal("a transcription worker failed; see its log",
                           error_id="transcription-worker-error") from exc
        except RayActorError as exc:
            raise Unavailable("the transcription worker died mid-job; the job is retried",
                              error_id="transcription-worker-lost") from exc
        return outcome


class TranscriptionPoolActor:
    """The queue, its workers and the result outbox; see the module doc."""

    def __init__(self, settings: FabricSettings, engine_spec: str = DEFAULT_ENGINE) -> None:
        self._settings = settings
        self._engine_spec = engine_spec
        self._queue: TranscriptionQueue | None = None
        self._workers: list[Any] = []
        # job id -> (reply address, result, lease end on the monotonic clock)
        self._outbox: dict[str, tuple[msg_tx.TranscriptionJob, msg_tx.TranscriptionResult,
                                      float]] = {}
        self._outbox_ready = asyncio.Event()

    def _started(self, *, workers: bool = False) -> TranscriptionQueue:
        tx = self._settings.transcription
        if workers and not self._workers:  # worker processes start with the first job
            self._workers.extend(
                TranscriptionWorker.options(  # type: ignore[attr-defined]
                    num_cpus=0, max_concurrency=4,
                ).remote(self._settings, self._engine_spec)
                for _ in range(tx.workers)
            )
        if self._queue is None:
            self._queue = TranscriptionQueue(
                _RayRunner(self._workers), self._to_outbox, slots=tx.workers,
                policy=policy_of(tx),
            )
            self._queue.start()
        return self._queue

    async def _to_outbox(
        self, result: msg_tx.TranscriptionResult, job: msg_tx.TranscriptionJob
    ) -> None:
        self._outbox[job.job_id] = (job, result, 0.0)
        self._outbox_ready.set()

    async def start(self) -> int:
        """Start the queue (idempotent; workers start with the first job); the number of
        workers it runs."""
        self._started()
        return self._settings.transcription.workers

    async def submit(self, job: msg_tx.TranscriptionJob) -> msg_tx.TranscriptionJobStatus:
        """Queue a job; its status now."""
        return self._started(workers=True).submit(job)

    async def status(self, job_id: str) -> msg_tx.TranscriptionJobStatus | None:
        """A job's status, or None."""
        return self._started().status(job_id)

    async def take_results(
        self, wait_s: float = 5.0, lease_s: float = 30.0, limit: int = 100
    ) -> list[tuple[str, str, msg_tx.TranscriptionResult]]:
        """Results ready to deliver as (reply kind, reply key, result), leased for
        ``lease_s``; waits up to ``wait_s`` for one."""
        deadline = time.monotonic() + wait_s
        while True:
            now = time.monotonic()
            out: list[tuple[str, str, msg_tx.TranscriptionResult]] = []
            for job_id, (job, result, lease) in list(self._outbox.items()):
                if lease <= now and len(out) < limit:
                    self._outbox[job_id] = (job, result, now + lease_s)
                    out.append((job.reply_to.kind, job.reply_to.key, result))
            if out or now >= deadline:
                return out
            self._outbox_ready.clear()
            leases = [lease for _, _, lease in self._outbox.values()]
            wake = min([deadline, *leases])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_ready.wait(), max(0.0, wake - now))

    async def ack(self, job_ids: list[str]) -> None:
        """Delivered: drop these results from the outbox."""
        for job_id in job_ids:
            self._outbox.pop(job_id, None)

    async def workers(self) -> list[Any]:
        """The worker actor handles (tests kill them)."""
        self._started(workers=True)
        return list(self._workers)

    async def running(self) -> list[str]:
        """Ids of the jobs being tried right now (tests)."""
        return self._started().running()

    async def metrics_text(self) -> str:
        """The pool's Prometheus exposition (queue depth, jobs, failures, RTF)."""
        return self._started().metrics.text()


TranscriptionPool = ray.remote(max_restarts=-1, max_task_retries=0)(TranscriptionPoolActor)


def pool_handle(
    settings: FabricSettings, *, name: str = POOL_NAME, engine_spec: str = DEFAULT_ENGINE
) -> Any:
    """The named pool of this Ray namespace, created on first use."""
    return TranscriptionPool.options(  # type: ignore[attr-defined]
        name=name, get_if_exists=True, num_cpus=0, max_concurrency=1000,
    ).remote(settings, engine_spec)


async def _ask(ref: Any) -> Any:
    try:
        return await ref
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, FabricError):
            raise cause from None
        raise Internal("the transcription pool failed; see its log",
                       error_id="transcription-pool-error") from exc
    except RayActorError as exc:
        raise Unavailable("the transcription pool is restarting; submit again",
                          error_id="transcription-unavailable") from exc


class RayTranscription:
    """``TranscriptionService`` of an actor host: submits to the Ray pool."""

    def __init__(self, settings: FabricSettings, *, name: str = POOL_NAME,
                 engine_spec: str = DEFAULT_ENGINE) -> None:
        self._settings = settings
        self._name = name
        self._engine_spec = engine_spec
        self._pool: Any = None

    def _handle(self) -> Any:
        if self._pool is None:
            self._pool = pool_handle(self._settings, name=self._name,
                                     engine_spec=self._engine_spec)
        return self._pool

    async def submit(self, job: msg_tx.TranscriptionJob) -> msg_tx.TranscriptionJobStatus:
        """Queue a job in the pool."""
        status: msg_tx.TranscriptionJobStatus = await _ask(self._handle().submit.remote(job))
        return status

    async def status(self, job_id: str) -> msg_tx.TranscriptionJobStatus | None:
        """A job's status in the pool, or None."""
        status: msg_tx.TranscriptionJobStatus | None = await _ask(
            self._handle().status.remote(job_id))
        return status


class ResultDelivery:
    """A gateway's loop: take finished results from the pool, tell them, acknowledge."""

    def __init__(self, system: ActorSystem, pool: Any, *, wait_s: float = 5.0) -> None:
        self._system = system
        self._pool = pool
        self._wait_s = wait_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop on the current event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tx-delivery")

    async def _run(self) -> None:
        while True:
            try:
                batch = await _ask(self._pool.take_results.remote(self._wait_s))
            except FabricError:
                await asyncio.sleep(1.0)  # the pool is restarting: ask again shortly
                continue
            delivered: list[str] = []
            for kind, key, result in batch:
                try:
                    await self._system.ref(ActorAddress(kind, key)).tell(result)
                    delivered.append(result.job_id)
                except FabricError as exc:  # handed out again when its lease ends
                    log.warning("transcription result not delivered yet (%s)", exc.error_id)
            if delivered:
                with contextlib.suppress(FabricError):
                    await _ask(self._pool.ack.remote(delivered))

    async def stop(self) -> None:
        """End the loop (undelivered results stay in the pool)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_transcription(system: ActorSystem, settings: FabricSettings,
                              stores: Any) -> ResultDelivery:
    """Gateway service: start (or find) the pool and deliver its results."""
    pool = pool_handle(settings)
    await _ask(pool.start.remote())
    delivery = ResultDelivery(system, pool)
    delivery.start()
    return delivery


async def pool_metrics_text(name: str = POOL_NAME) -> str:
    """Driver side: the running pool's exposition, or "" when no pool runs."""
    if not ray.is_initialized() or name not in ray.util.list_named_actors():
        return ""
    text: str = await _ask(ray.get_actor(name).metrics_text.remote())
    return text


def make_transcription_services(settings: FabricSettings) -> dict[type, object]:
    """An actor host's ``TranscriptionService`` (the Ray pool), or none without Ray."""
    from actors.transcription.service import TranscriptionService

    if not ray.is_initialized():
        return {}
    return {TranscriptionService: RayTranscription(settings)}

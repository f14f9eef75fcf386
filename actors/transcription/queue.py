"""The transcription queue: bounded, with retries, backoff and a status per job.

One :class:`TranscriptionQueue` runs in the pool (``actors.transcription.pool``) or, for unit
tests and single-process runs, in-process (``actors.transcription.service``). It knows
nothing of Ray or of engines: a :class:`JobRunner` runs one try of a job on slot ``n`` (one
slot per worker, so a worker runs one job at a time) and returns an :class:`Outcome`.

Statuses (``fabric.api.v1.TranscriptStatus``): a job is PENDING from submit until it ends
(queued, running, or waiting to retry), then DONE, FAILED or SKIPPED, and never changes
again. The runner *returns* final outcomes (done, or failed/skipped for reasons retrying
cannot fix: no model, bad audio, recording deleted) and *raises* for anything transient
(the worker process died mid-job, the store is unavailable, the try timed out): the job
goes back to the queue after ``backoff_s * 2**(tries - 1)`` (at most ``backoff_max_s``) and
fails with ``transcribe-attempts-exhausted`` after ``max_attempts`` tries.

Bounded: at most ``capacity`` jobs are PENDING at once; a submit beyond that is refused
with ``ResourceExhausted`` (``transcription-queue-full``, retryable) and nothing is queued.
Submitting a job id the queue knows queues nothing and answers its status (idempotent), so a
mailbox may re-submit its pending messages after a restart. Finished jobs are remembered
(``remember`` most recent) for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.metrics import TranscriptionMetrics
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.clock import Clock, SystemClock
from fabric.errors import FabricError, InvalidArgument, ResourceExhausted

log = logging.getLogger(__name__)

PENDING = api_vm.TRANSCRIPT_STATUS_PENDING
DONE = api_vm.TRANSCRIPT_STATUS_DONE
FAILED = api_vm.TRANSCRIPT_STATUS_FAILED
SKIPPED = api_vm.TRANSCRIPT_STATUS_SKIPPED
FINAL = frozenset({DONE, FAILED, SKIPPED})
_LABELS: dict[int, str] = {DONE: "done", FAILED: "failed", SKIPPED: "skipped"}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")

ResultSink = Callable[[msg_tx.TranscriptionResult, msg_tx.TranscriptionJob], Awaitable[None]]
"""Where finished jobs go: ``await sink(result, job)`` (delivery to ``job.reply_to``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one try of a job ended, as its runner reports it."""

    status: int  # DONE, FAILED or SKIPPED
    reason: str = ""
    reason_message: str = ""
    transcript_object_id: str = ""
    audio_seconds: float = 0.0
    busy_seconds: float = 0.0  # engine time, for transcription seconds per audio second
    engine: str = ""
    words: int = 0


class JobRunner(Protocol):
    """Runs one try of a job on worker slot ``slot``; raises for transient failures."""

    async def run(self, job: msg_tx.TranscriptionJob, slot: int) -> Outcome:
        """Transcribe ``job`` once and seal its transcript."""
        ...


class _Phase(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(slots=True)
class _Entry:
    job: msg_tx.TranscriptionJob
    phase: _Phase = _Phase.QUEUED
    status: int = PENDING
    attempts: int = 0
    not_before: float = 0.0
    reason: str = ""
    seq: int = 0
    result: msg_tx.TranscriptionResult | None = field(default=None)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Bounds and retry schedule of a queue (from ``transcription.*`` settings)."""

    capacity: int = 200
    max_attempts: int = 3
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    job_timeout_s: float = 600.0
    remember: int = 10_000

    def backoff(self, attempts: int) -> float:
        """The wait before try ``attempts + 1`` (after ``attempts`` failed tries)."""
        return float(min(self.backoff_s * 2 ** max(0, attempts - 1), self.backoff_max_s))


def check_job(job: msg_tx.TranscriptionJob) -> None:
    """Refuse a job that names no recording, tenant or reply address."""
    for name in ("job_id", "tenant_id", "audio_object_id"):
        if not _ID_RE.match(getattr(job, name)):
            raise InvalidArgument(
                f"TranscriptionJob.{name} must be 1-128 letters, digits and '._:@-'",
                error_id="transcription-invalid-job",
                details={"field": name},
            )
    if not job.reply_to.kind or not job.reply_to.key:
        raise InvalidArgument(
            "TranscriptionJob.reply_to must name the actor to tell the result (kind and key)",
            error_id="transcription-invalid-job",
            details={"field": "reply_to"},
        )


class TranscriptionQueue:
    """Bounded job queue with ``slots`` concurrent tries; see the module doc."""

    def __init__(
        self,
        runner: JobRunner,
        sink: ResultSink,
        *,
        slots: int,
        policy: QueuePolicy | None = None,
        clock: Clock | None = None,
        metrics: TranscriptionMetrics | None = None,
    ) -> None:
        self._runner = runner
        self._sink = sink
        self._slots = slots
        self.policy = policy or QueuePolicy()
        self._clock = clock or SystemClock()
        self.metrics = metrics or TranscriptionMetrics()
        self._jobs: OrderedDict[str, _Entry] = OrderedDict()
        self._active = 0  # entries not FINISHED
        self._seq = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- submitting ---------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Jobs PENDING: queued, running or waiting to retry."""
        return self._active

    def submit(self, job: msg_tx.TranscriptionJob) -> msg_tx.TranscriptionJobStatus:
        """Queue ``job`` (or answer the status of the known job with its id)."""
        check_job(job)
        known = self._jobs.get(job.job_id)
        if known is not None:
            return self._status(known)
        if self._active >= self.policy.capacity:
            self.metrics.refused.inc()
            raise ResourceExhausted(
                f"the transcription queue is full ({self.policy.capacity} jobs); submit again "
                "later (transcription.queue_capacity)",
                error_id="transcription-queue-full",
            )
        self._seq += 1
        entry = _Entry(job=job, seq=self._seq, not_before=self._clock.now())
        self._jobs[job.job_id] = entry
        self._active += 1
        self.metrics.depth.set(self._active)
        if self._slots == 0:
            self._finish(entry, Outcome(
                SKIPPED, "transcription-disabled",
                "no transcription workers run here (transcription.workers = 0)"))
        self._wake.set()
        return self._status(entry)

    def running(self) -> list[str]:
        """Ids of the jobs being tried now."""
        return [j for j, e in self._jobs.items() if e.phase is _Phase.RUNNING]

    def status(self, job_id: str) -> msg_tx.TranscriptionJobStatus | None:
        """The job's status, or None if the queue does not know it."""
        entry = self._jobs.get(job_id)
        return self._status(entry) if entry is not None else None

    def _status(self, entry: _Entry) -> msg_tx.TranscriptionJobStatus:
        return msg_tx.TranscriptionJobStatus(
            job_id=entry.job.job_id, status=entry.status, reason=entry.reason,  # type: ignore[arg-type]
            attempts=entry.attempts, queue_depth=self._active,
        )

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start one loop per slot on the running event loop (idempotent)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._slot_loop(n), name=f"transcription-slot-{n}")
            for n in range(self._slots)
        ]

    async def close(self) -> None:
        """Stop the slot loops (running tries are cancelled; their jobs stay PENDING)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _next_due(self) -> tuple[_Entry | None, float | None]:
        """The oldest due queued job, else the delay until the next one is due."""
        now = self._clock.now()
        best: _Entry | None = None
        wait: float | None = None
        for entry in self._jobs.values():
            if entry.phase is not _Phase.QUEUED:
                continue
            if entry.not_before <= now:
                if best is None or (entry.not_before, entry.seq) < (best.not_before, best.seq):
                    best = entry
            else:
                delay = entry.not_before - now
                wait = delay if wait is None else min(wait, delay)
        return best, wait

    async def _slot_loop(self, slot: int) -> None:
        while True:
            entry, wait = self._next_due()
            if entry is None:
                await self._idle(wait)
                continue
            await self._attempt(entry, slot)

    async def _idle(self, wait: float | None) -> None:
        self._wake.clear()
        waits: set[asyncio.Future[object]] = {
            asyncio.ensure_future(self._wake.wait())
        }
        if wait is not None:
            waits.add(asyncio.ensure_future(self._clock.sleep(wait)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waits:
                fut.cancel()

    async def _attempt(self, entry: _Entry, slot: int) -> None:
        entry.phase = _Phase.RUNNING
        entry.attempts += 1
        try:
            outcome = await asyncio.wait_for(
                self._runner.run(entry.job, slot), self.policy.job_timeout_s
            )
        except asyncio.CancelledError:
            entry.phase = _Phase.QUEUED  # the queue is closing: the job stays PENDING
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of a try is retried
            self._retry(entry, exc)
            return
        self._finish(entry, outcome)

    def _retry(self, entry: _Entry, exc: Exception) -> None:
        reason = (
            exc.error_id if isinstance(exc, FabricError)
            else "transcription-timeout" if isinstance(exc, TimeoutError)
            else "transcription-error"
        )
        self.metrics.failures.labels(reason=reason).inc()
        log.warning("transcription try %d of a job failed (%s: %s)", entry.attempts, reason,
                    type(exc).__name__)
        if entry.attempts >= self.policy.max_attempts:
            self._finish(entry, Outcome(
                FAILED, "transcribe-attempts-exhausted",
                f"{entry.attempts} tries failed, the last with {reason}"))
            return
        entry.phase = _Phase.QUEUED
        entry.reason = reason
        entry.not_before = self._clock.now() + self.policy.backoff(entry.attempts)
        self._wake.set()

    def _finish(self, entry: _Entry, outcome: Outcome) -> None:
        entry.phase = _Phase.FINISHED
        entry.status = outcome.status
        entry.reason = outcome.reason
        self._active -= 1
        self.metrics.depth.set(self._active)
        self.metrics.jobs.labels(status=_LABELS.get(outcome.status, "unknown")).inc()
        if outcome.status == DONE:
            self.metrics.observe_done(outcome.engine, outcome.audio_seconds, outcome.busy_seconds)
        elif outcome.status == FAILED and outcome.reason != "transcribe-attempts-exhausted":
            self.metrics.failures.labels(reason=outcome.reason).inc()
        job = entry.job
        entry.result = msg_tx.TranscriptionResult(
            job_id=job.job_id, tenant_id=job.tenant_id, correlation_id=job.correlation_id,
            status=outcome.status,  # type: ignore[arg-type]
            reason=outcome.reason, reason_message=outcome.reason_message,
            transcript_object_id=outcome.transcript_object_id,
            audio_seconds=outcome.audio_seconds, attempts=entry.attempts,
            engine=outcome.engine, words=outcome.words,
        )
        self._forget_old()
        asyncio.get_running_loop().create_task(self._deliver(entry.result, job))

    async def _deliver(
        self, result: msg_tx.TranscriptionResult, job: msg_tx.TranscriptionJob
    ) -> None:
        try:
            await self._sink(result, job)
        except Exception:  # noqa: BLE001 - the sink keeps and retries what it must
            log.exception("a transcription result could not be handed over")

    def _forget_old(self) -> None:
        extra = len(self._jobs) - self._active - self.policy.remember
        if extra <= 0:
            return
        for job_id in [j for j, e in self._jobs.items() if e.phase is _Phase.FINISHED][:extra]:
            del self._jobs[job_id]

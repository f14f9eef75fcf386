"""What a mailbox uses: ``ctx.service(TranscriptionService).submit(job)``.

:class:`TranscriptionService` is the interface; two implementations:

- ``actors.transcription.pool.RayTranscription`` (registered in every actor host when Ray
  runs): submits to the pool's Ray actor; results come back through the gateways' delivery
  loop (``actors.transcription.pool:start_transcription``).
- :class:`LocalTranscription` (unit tests, single-process runs): the same queue in this
  process, an engine and a content store given to it, results told through the
  ``ActorSystem`` given to :meth:`LocalTranscription.attach`.

Either way the job's ``reply_to`` actor is *told* a ``TranscriptionResult`` when the job
ends, at least once: handle it idempotently by ``job_id``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.queue import JobRunner, Outcome, QueuePolicy, TranscriptionQueue
from actors.transcription.work import run_job
from fabric.actor import ActorAddress, ActorSystem
from fabric.clock import Clock
from fabric.config import FabricSettings, TranscriptionSettings
from fabric.errors import FabricError, Unavailable
from fabric.transcribe.engine import SpeechEngine
from fabric.vault.content import ContentStore

log = logging.getLogger(__name__)


@runtime_checkable
class TranscriptionService(Protocol):
    """Submit recordings for transcription; ask a job's status."""

    async def submit(self, job: msg_tx.TranscriptionJob) -> msg_tx.TranscriptionJobStatus:
        """Queue a job (idempotent by ``job_id``); its status now (usually PENDING).

        Raises ``InvalidArgument`` (transcription-invalid-job) for a job without ids or
        reply address, ``ResourceExhausted`` (transcription-queue-full) when the queue is
        full and ``Unavailable`` (transcription-unavailable) when the pool cannot be
        reached: both retryable; the message stays PENDING on the mailbox's side.
        """
        ...

    async def status(self, job_id: str) -> msg_tx.TranscriptionJobStatus | None:
        """The job's status, or None when the pool does not know it (e.g. it restarted)."""
        ...


def policy_of(settings: TranscriptionSettings) -> QueuePolicy:
    """The queue policy the settings describe."""
    return QueuePolicy(
        capacity=settings.queue_capacity, max_attempts=settings.max_attempts,
        backoff_s=settings.backoff_s, backoff_max_s=settings.backoff_max_s,
        job_timeout_s=settings.job_timeout_s,
    )


@dataclass(slots=True)
class EngineRunner:
    """A :class:`JobRunner` over one in-process engine (every slot shares it)."""

    engine: SpeechEngine | None
    content: ContentStore
    language: str
    engine_error: FabricError | None = None

    async def run(self, job: msg_tx.TranscriptionJob, slot: int) -> Outcome:
        """One try of ``job`` with this process's engine and content store."""
        return await run_job(job, self.engine, self.content, language=self.language,
                             engine_error=self.engine_error)


class LocalTranscription:
    """The transcription queue in this process (see the module doc)."""

    def __init__(
        self,
        runner: JobRunner,
        settings: TranscriptionSettings | None = None,
        *,
        system: ActorSystem | None = None,
        clock: Clock | None = None,
        slots: int = 1,
    ) -> None:
        settings = settings or FabricSettings().transcription
        self._system = system
        self.queue = TranscriptionQueue(runner, self._tell, slots=slots,
                                        policy=policy_of(settings), clock=clock)

    def attach(self, system: ActorSystem) -> None:
        """Tell results through ``system`` (made after its services, hence here)."""
        self._system = system

    async def _tell(
        self, result: msg_tx.TranscriptionResult, job: msg_tx.TranscriptionJob
    ) -> None:
        if self._system is None:
            raise Unavailable("LocalTranscription has no actor system attached",
                              error_id="transcription-unavailable")
        await self._system.ref(ActorAddress(job.reply_to.kind, job.reply_to.key)).tell(result)

    async def submit(self, job: msg_tx.TranscriptionJob) -> msg_tx.TranscriptionJobStatus:
        """Queue a job here (starts the slot loops on first use)."""
        self.queue.start()
        return self.queue.submit(job)

    async def status(self, job_id: str) -> msg_tx.TranscriptionJobStatus | None:
        """The job's status here."""
        return self.queue.status(job_id)

    async def close(self) -> None:
        """Stop the queue's loops."""
        await self.queue.close()

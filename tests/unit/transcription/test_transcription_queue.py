"""The transcription queue on a manual clock with a scripted runner: statuses, the bound,
idempotent submit, retries with exponential backoff, final outcomes, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.queue import (
    DONE,
    FAILED,
    PENDING,
    SKIPPED,
    Outcome,
    QueuePolicy,
    TranscriptionQueue,
)
from fabric.clock import ManualClock
from fabric.errors import InvalidArgument, ResourceExhausted, Unavailable
from fabric.testing import eventually, number_shaped_labels


def job(n: int) -> msg_tx.TranscriptionJob:
    return msg_tx.TranscriptionJob(
        job_id=f"job-{n}", tenant_id="t1", audio_object_id=f"vm-{n}",
        reply_to=msg_common.Address(kind="mailbox", key="t1/101"), correlation_id=f"m{n}",
    )


class ScriptedRunner:
    """Each try pops the next scripted step: an Outcome to return or an error to raise;
    when ``gate`` is set, tries wait for it first."""

    def __init__(self, steps: list[Outcome | Exception] | None = None) -> None:
        self.steps = list(steps or [])
        self.tries: list[tuple[str, int]] = []
        self.gate: asyncio.Event | None = None

    async def run(self, j: msg_tx.TranscriptionJob, slot: int) -> Outcome:
        self.tries.append((j.job_id, slot))
        if self.gate is not None:
            await self.gate.wait()
        step = self.steps.pop(0) if self.steps else Outcome(
            DONE, transcript_object_id=j.audio_object_id, audio_seconds=4.0,
            busy_seconds=1.0, engine="fake", words=3)
        if isinstance(step, Exception):
            raise step
        return step


class Sink:
    def __init__(self) -> None:
        self.results: list[msg_tx.TranscriptionResult] = []

    async def __call__(self, result: msg_tx.TranscriptionResult,
                       j: msg_tx.TranscriptionJob) -> None:
        assert j.reply_to.kind == "mailbox"
        self.results.append(result)


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def runner() -> ScriptedRunner:
    return ScriptedRunner()


@pytest.fixture()
def sink() -> Sink:
    return Sink()


@pytest.fixture()
async def queue(runner: ScriptedRunner, sink: Sink,
                clock: ManualClock) -> AsyncIterator[TranscriptionQueue]:
    q = TranscriptionQueue(runner, sink, slots=1, clock=clock, policy=QueuePolicy(
        capacity=2, max_attempts=3, backoff_s=2.0, backoff_max_s=60.0))
    q.start()
    yield q
    await q.close()


async def test_a_job_goes_pending_then_done_and_its_result_is_delivered(
    queue: TranscriptionQueue, sink: Sink
) -> None:
    status = queue.submit(job(1))
    assert status.status == PENDING and status.queue_depth == 1
    [result] = await eventually(lambda: sink.results, what="the result")
    assert (result.job_id, result.status, result.correlation_id) == ("job-1", DONE, "m1")
    assert (result.transcript_object_id, result.attempts, result.words) == ("vm-1", 1, 3)
    final = queue.status("job-1")
    assert final is not None and final.status == DONE and queue.depth == 0
    text = queue.metrics.text()
    assert 'fabric_transcription_jobs_total{status="done"} 1.0' in text
    assert 'fabric_transcription_audio_seconds_total{engine="fake"} 4.0' in text
    assert 'fabric_transcription_busy_seconds_total{engine="fake"} 1.0' in text
    assert "fabric_transcription_queue_depth 0.0" in text
    assert number_shaped_labels(text) == []


async def test_the_queue_is_bounded_and_a_refused_job_is_not_queued(
    queue: TranscriptionQueue, runner: ScriptedRunner, sink: Sink
) -> None:
    runner.gate = asyncio.Event()
    queue.submit(job(1))
    queue.submit(job(2))
    with pytest.raises(ResourceExhausted) as refused:
        queue.submit(job(3))
    assert refused.value.error_id == "transcription-queue-full" and refused.value.retryable
    assert queue.status("job-3") is None and queue.depth == 2
    assert "fabric_transcription_refused_total 1.0" in queue.metrics.text()
    runner.gate.set()
    await eventually(lambda: len(sink.results) == 2, what="both results")
    assert queue.submit(job(3)).status == PENDING  # room again


async def test_submitting_a_known_job_id_queues_nothing(
    queue: TranscriptionQueue, runner: ScriptedRunner, sink: Sink
) -> None:
    runner.gate = asyncio.Event()
    queue.submit(job(1))
    again = queue.submit(job(1))
    assert again.status == PENDING and queue.depth == 1
    runner.gate.set()
    await eventually(lambda: sink.results, what="the result")
    after = queue.submit(job(1))
    assert after.status == DONE and queue.depth == 0
    assert runner.tries == [("job-1", 0)] and len(sink.results) == 1


async def test_a_failed_try_is_retried_after_an_exponential_backoff(
    queue: TranscriptionQueue, runner: ScriptedRunner, sink: Sink, clock: ManualClock
) -> None:
    lost = Unavailable("worker died", error_id="transcription-worker-lost")
    runner.steps = [lost, lost]
    queue.submit(job(1))
    await eventually(lambda: len(runner.tries) == 1 and not queue.running(), what="try 1")
    status = queue.status("job-1")
    assert status is not None and (status.status, status.attempts) == (PENDING, 1)
    assert status.reason == "transcription-worker-lost"
    await clock.advance(1.9)
    assert len(runner.tries) == 1  # not before the 2 s backoff
    await clock.advance(0.2)
    await eventually(lambda: len(runner.tries) == 2 and not queue.running(), what="try 2")
    await clock.advance(3.9)
    assert len(runner.tries) == 2  # the second backoff is 4 s
    await clock.advance(0.2)
    [result] = await eventually(lambda: sink.results, what="the result")
    assert (result.status, result.attempts) == (DONE, 3)
    assert 'fabric_transcription_failures_total{reason="transcription-worker-lost"} 2.0' in (
        queue.metrics.text())


async def test_a_job_fails_when_every_try_failed(
    queue: TranscriptionQueue, runner: ScriptedRunner, sink: Sink, clock: ManualClock
) -> None:
    runner.steps = [RuntimeError("boom")] * 3
    queue.submit(job(1))
    for tries in (1, 2):
        await eventually(lambda t=tries: len(runner.tries) == t and not queue.running(),
                         what=f"try {tries} failed")
        await clock.advance(60)
    [result] = await eventually(lambda: sink.results, what="the result")
    assert (result.status, result.reason, result.attempts) == (
        FAILED, "transcribe-attempts-exhausted", 3)
    assert 'fabric_transcription_jobs_total{status="failed"} 1.0' in queue.metrics.text()


async def test_a_final_outcome_is_not_retried(
    queue: TranscriptionQueue, runner: ScriptedRunner, sink: Sink
) -> None:
    runner.steps = [Outcome(SKIPPED, "transcribe-model-missing", "no model installed")]
    queue.submit(job(1))
    [result] = await eventually(lambda: sink.results, what="the result")
    assert (result.status, result.reason, result.attempts) == (
        SKIPPED, "transcribe-model-missing", 1)
    assert result.reason_message == "no model installed" and len(runner.tries) == 1


async def test_a_job_without_ids_or_reply_address_is_refused(
    queue: TranscriptionQueue,
) -> None:
    for bad in (msg_tx.TranscriptionJob(job_id="", tenant_id="t", audio_object_id="a"),
                msg_tx.TranscriptionJob(job_id="j", tenant_id="t", audio_object_id="a")):
        with pytest.raises(InvalidArgument) as err:
            queue.submit(bad)
        assert err.value.error_id == "transcription-invalid-job"
    assert queue.depth == 0


async def test_no_workers_means_every_job_is_skipped_with_the_reason(sink: Sink) -> None:
    q = TranscriptionQueue(ScriptedRunner(), sink, slots=0)
    status = q.submit(job(1))
    assert (status.status, status.reason) == (SKIPPED, "transcription-disabled")
    [result] = await eventually(lambda: sink.results, what="the result")
    assert result.status == SKIPPED and q.depth == 0

"""One try of one job, inside a process that holds an engine and the content store.

Reads the sealed recording from the vault (``ContentStore``, class ``voicemail`` unless the
job says otherwise), wraps raw PCM in a WAV header *in memory* (no plaintext touches
disk), runs the engine in a thread, and seals the text under class ``transcript``.

Idempotent: a try that finds the transcript already sealed (an earlier try of the same job
sealed it, then its worker died before answering) reports it DONE instead of failing.
Errors retrying cannot fix become final outcomes (FAILED or SKIPPED, with the error id);
anything else is raised for the queue to retry.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave

from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.queue import DONE, FAILED, SKIPPED, Outcome
from fabric.errors import AlreadyExists, FabricError, NotFound
from fabric.transcribe.engine import AudioUnreadable, ModelUnavailable, SpeechEngine
from fabric.vault.content import TRANSCRIPT, VOICEMAIL, ContentStore


def pcm16_to_wav(pcm: bytes, rate: int) -> bytes:
    """Raw 16-bit little-endian mono PCM as a WAV file, in memory."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm[: len(pcm) - len(pcm) % 2])
    return out.getvalue()


def transcript_id(job: msg_tx.TranscriptionJob) -> str:
    """Where the job's transcript is sealed (class ``transcript``)."""
    return job.transcript_object_id or job.audio_object_id


def failed(error: FabricError, status: int = FAILED) -> Outcome:
    """A final outcome from an error (its id is the reason, its message the words)."""
    return Outcome(status, error.error_id, error.message)


async def run_job(
    job: msg_tx.TranscriptionJob,
    engine: SpeechEngine | None,
    content: ContentStore,
    *,
    language: str,
    engine_error: FabricError | None = None,
) -> Outcome:
    """Transcribe ``job`` once; see the module doc. ``engine`` None means it could not be
    loaded, for the reason ``engine_error`` (no model: SKIPPED; bad model: FAILED)."""
    if engine is None:
        error = engine_error or ModelUnavailable("no speech engine is loaded in this worker")
        return failed(error, SKIPPED if isinstance(error, ModelUnavailable) else FAILED)
    tid = transcript_id(job)
    try:
        existing = await content.open(job.tenant_id, TRANSCRIPT, tid)
    except NotFound:
        pass
    else:
        text = (await existing.read_all()).decode()
        meta = existing.info.metadata
        return Outcome(DONE, transcript_object_id=tid, engine=meta.get("engine", engine.name),
                       audio_seconds=float(meta.get("audio_seconds", "0")),
                       words=len(text.split()))
    try:
        reader = await content.open(job.tenant_id, job.audio_class or VOICEMAIL,
                                    job.audio_object_id)
        audio = await reader.read_all()
    except NotFound:
        return failed(NotFound("the recording is gone (deleted before it was transcribed)",
                               error_id="transcribe-audio-not-found"))
    except FabricError as exc:
        if exc.retryable:
            raise
        return failed(exc)
    if job.encoding == msg_tx.AUDIO_ENCODING_PCM16LE:
        audio = pcm16_to_wav(audio, job.sample_rate_hz or 8000)
    started = time.perf_counter()
    try:
        heard = await asyncio.to_thread(engine.transcribe, audio, job.language or language)
    except AudioUnreadable as exc:
        return failed(exc)
    busy = time.perf_counter() - started
    try:
        await content.put(
            job.tenant_id, TRANSCRIPT, tid, heard.text.encode(),
            metadata={"engine": engine.name, "language": heard.language,
                      "audio_seconds": f"{heard.audio_seconds:.3f}", "job_id": job.job_id},
        )
    except AlreadyExists:
        pass  # sealed meanwhile by another try of this job: same recording, same text
    return Outcome(DONE, transcript_object_id=tid, audio_seconds=heard.audio_seconds,
                   busy_seconds=busy, engine=engine.name, words=len(heard.text.split()))

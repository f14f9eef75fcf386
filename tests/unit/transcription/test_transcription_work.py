"""One try of a job against the real (embedded) content store with a scripted engine, the
model checks (missing model skipped, checksum mismatch refused), and the in-process
service telling its result to the job's reply address through a LocalActorSystem."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription import LocalTranscription, TranscriptionService
from actors.transcription.queue import DONE, FAILED, PENDING, SKIPPED
from actors.transcription.service import EngineRunner
from actors.transcription.work import run_job
from fabric.config import FabricSettings, StorageSettings, VaultSettings
from fabric.storage.factory import Stores, open_stores
from fabric.systems import LocalActorSystem
from fabric.transcribe.engine import ModelTampered, ModelUnavailable, SpeechEngine
from fabric.transcribe.model import MODEL_SHA256, SIDE_FILES, verify
from fabric.transcribe.testing import ScriptedEngine
from fabric.transcribe.whisper import FasterWhisperEngine
from fabric.vault.content import TRANSCRIPT, VOICEMAIL, ContentStore

ONE_SECOND_PCM = b"\x00\x01" * 8000  # raw PCM16LE mono 8 kHz, as the mailbox seals it


@pytest.fixture()
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    s = await open_stores(
        StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                        spool_dir=tmp_path / "spool"),
        vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        sweep=False,
    )
    yield s
    await s.close()


@pytest.fixture()
def content(stores: Stores) -> ContentStore:
    assert stores.content is not None
    return stores.content


def job(n: int = 1, **fields: object) -> msg_tx.TranscriptionJob:
    base: dict[str, object] = dict(
        job_id=f"job-{n}", tenant_id="t1", audio_object_id=f"vm-{n}",
        encoding=msg_tx.AUDIO_ENCODING_PCM16LE, sample_rate_hz=8000,
        transcript_object_id=f"tx-{n}",
        reply_to=msg_common.Address(kind="mailbox", key="t1/101"))
    base.update(fields)
    return msg_tx.TranscriptionJob(**base)  # type: ignore[arg-type]


async def test_a_try_seals_the_transcript_and_a_second_try_finds_it(
    content: ContentStore,
) -> None:
    await content.put("t1", VOICEMAIL, "vm-1", ONE_SECOND_PCM)
    engine = ScriptedEngine("please call me back")
    assert isinstance(engine, SpeechEngine)
    outcome = await run_job(job(), engine, content, language="en")
    assert (outcome.status, outcome.transcript_object_id, outcome.words) == (DONE, "tx-1", 4)
    assert outcome.audio_seconds == pytest.approx(1.0) and outcome.engine == "scripted"
    sealed = await content.open("t1", TRANSCRIPT, "tx-1")
    assert await sealed.read_all() == b"please call me back"
    again = await run_job(job(), engine, content, language="en")  # a retried try
    assert (again.status, again.transcript_object_id, again.words) == (DONE, "tx-1", 4)
    assert engine.calls == 1


async def test_without_a_model_the_job_is_skipped_with_the_reason(
    content: ContentStore, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailable) as missing:
        FasterWhisperEngine.load(tmp_path / "no-model")
    assert missing.value.error_id == "transcribe-model-missing"
    assert "make install" in missing.value.message
    await content.put("t1", VOICEMAIL, "vm-1", ONE_SECOND_PCM)
    outcome = await run_job(job(), None, content, language="en", engine_error=missing.value)
    assert (outcome.status, outcome.reason) == (SKIPPED, "transcribe-model-missing")
    assert "make install" in outcome.reason_message


async def test_a_model_whose_checksum_differs_is_refused(
    content: ContentStore, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.bin", *SIDE_FILES):
        (model / name).write_bytes(b"not the pinned model")
    with pytest.raises(ModelTampered) as tampered:
        FasterWhisperEngine.load(model)
    assert tampered.value.error_id == "transcribe-model-tampered"
    verify(model, hashlib.sha256(b"not the pinned model").hexdigest())  # its own hash passes
    outcome = await run_job(job(), None, content, language="en", engine_error=tampered.value)
    assert (outcome.status, outcome.reason) == (FAILED, "transcribe-model-tampered")


def test_the_pinned_checksum_is_the_settings_default() -> None:
    assert FabricSettings().transcription.model_sha256 == MODEL_SHA256


async def test_a_deleted_or_unreadable_recording_fails_without_retry(
    content: ContentStore,
) -> None:
    gone = await run_job(job(), ScriptedEngine(), content, language="en")
    assert (gone.status, gone.reason) == (FAILED, "transcribe-audio-not-found")
    await content.put("t1", VOICEMAIL, "vm-2", b"RIFF garbage, not a wav")
    bad = await run_job(job(2, encoding=msg_tx.AUDIO_ENCODING_WAV), ScriptedEngine(), content,
                        language="en")
    assert (bad.status, bad.reason) == (FAILED, "transcribe-audio-unreadable")


async def test_the_local_service_tells_the_result_to_the_reply_address(
    content: ContentStore,
) -> None:
    await content.put("t1", VOICEMAIL, "vm-1", ONE_SECOND_PCM)
    service = LocalTranscription(EngineRunner(ScriptedEngine("hello"), content, "en"))
    assert isinstance(service, TranscriptionService)
    async with LocalActorSystem(services={TranscriptionService: service}) as system:
        service.attach(system)
        inbox = await system.open_endpoint()
        reply = msg_common.Address(kind=inbox.address.kind, key=inbox.address.key)
        status = await service.submit(job(reply_to=reply, correlation_id="msg-1"))
        assert status.status == PENDING
        result = await asyncio.wait_for(anext(aiter(inbox)), 10)
        assert isinstance(result, msg_tx.TranscriptionResult)
        assert (result.status, result.correlation_id, result.transcript_object_id) == (
            DONE, "msg-1", "tx-1")
        done = await service.status("job-1")
        assert done is not None and done.status == DONE
        await service.close()


def test_a_relative_model_dir_is_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fabric.config import TranscriptionSettings
    from fabric.transcribe.whisper import model_dir_of

    monkeypatch.chdir(tmp_path)  # a Ray worker may run in another folder
    project = Path(__file__).resolve().parents[3]
    assert model_dir_of(TranscriptionSettings(model_dir=Path("fabric"))) == project / "fabric"
    (tmp_path / "here").mkdir()
    assert model_dir_of(TranscriptionSettings(model_dir=Path("here"))) == Path("here")

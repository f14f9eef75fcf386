"""The transcription pool on real Ray: a worker killed mid-job (``ray.kill``) fails its try,
the job stays PENDING, is retried on the restarted worker and ends DONE once; its
transcript is sealed once and its result reaches the reply address through the delivery
loop. The engine is the scripted one (held mid-job by a file), so the kill is deterministic;
the real engine is tested in test_transcription_whisper.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.pool import ResultDelivery, TranscriptionPool
from actors.transcription.queue import DONE, PENDING
from fabric.config import FabricSettings, StorageSettings, TranscriptionSettings, VaultSettings
from fabric.storage.factory import Stores, open_stores
from fabric.systems import LocalActorSystem
from fabric.testing import eventually
from fabric.transcribe.testing import HOLD_FILE_ENV, SCRIPTED_TEXT_ENV
from fabric.vault.content import TRANSCRIPT, VOICEMAIL

pytestmark = pytest.mark.ray


@pytest.fixture()
def settings(tmp_path: Path) -> FabricSettings:
    return FabricSettings(
        storage=StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                                spool_dir=tmp_path / "spool"),
        vault=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        transcription=TranscriptionSettings(workers=1, backoff_s=0.2, max_attempts=3),
    )


@pytest.fixture()
async def stores(settings: FabricSettings) -> AsyncIterator[Stores]:
    s = await open_stores(settings.storage, vault_settings=settings.vault, sweep=False)
    yield s
    await s.close()


async def test_a_worker_killed_mid_job_is_retried_and_the_status_stays_consistent(
    ray_driver: Any, settings: FabricSettings, stores: Stores, tmp_path: Path
) -> None:
    assert stores.content is not None
    await stores.content.put("t1", VOICEMAIL, "vm-1", b"\x00\x01" * 16000)  # 2 s PCM16LE
    hold = tmp_path / "hold"
    hold.touch()
    pool = TranscriptionPool.options(  # type: ignore[attr-defined]
        name=f"tx-pool-{uuid.uuid4().hex[:6]}", num_cpus=0, max_concurrency=100,
        runtime_env={"env_vars": {HOLD_FILE_ENV: str(hold), SCRIPTED_TEXT_ENV: "call me back"}},
    ).remote(settings, "fabric.transcribe.testing:scripted_engine")
    async with LocalActorSystem() as system:
        inbox = await system.open_endpoint()
        job = msg_tx.TranscriptionJob(
            job_id="job-1", tenant_id="t1", audio_object_id="vm-1",
            encoding=msg_tx.AUDIO_ENCODING_PCM16LE, sample_rate_hz=8000,
            reply_to=msg_common.Address(kind=inbox.address.kind, key=inbox.address.key),
            correlation_id="msg-1")
        status = await pool.submit.remote(job)
        assert status.status == PENDING
        await eventually(pool.running.remote, timeout=60, what="the job running on a worker")
        [worker] = await pool.workers.remote()
        first_pid = await worker.pid.remote()
        ray.kill(worker, no_restart=False)  # mid-job: the engine is held by the file

        async def retried() -> bool:
            st = await pool.status.remote("job-1")
            assert st.status == PENDING, st  # never final while the job is being retried
            return st.attempts == 2 and await pool.running.remote() == ["job-1"]

        await eventually(retried, timeout=60, what="the job running again after the kill")
        assert await worker.pid.remote() != first_pid  # Ray restarted the worker
        assert "transcription-worker-lost" in await pool.metrics_text.remote()
        hold.unlink()

        delivery = ResultDelivery(system, pool, wait_s=1.0)
        delivery.start()
        try:
            result = await asyncio.wait_for(anext(aiter(inbox)), 60)
        finally:
            await delivery.stop()
        assert isinstance(result, msg_tx.TranscriptionResult)
        assert (result.status, result.attempts, result.correlation_id) == (DONE, 2, "msg-1")
        final = await pool.status.remote("job-1")
        assert (final.status, final.attempts) == (DONE, 2)
        assert await pool.take_results.remote(0.0) == []  # delivered and acknowledged
        sealed = await stores.content.list("t1", TRANSCRIPT)
        assert [i.object_id for i in sealed] == ["vm-1"]
        text = await (await stores.content.open("t1", TRANSCRIPT, "vm-1")).read_all()
        assert text == b"call me back"
        metrics = await pool.metrics_text.remote()
        assert 'fabric_transcription_jobs_total{status="done"} 1.0' in metrics
        assert "fabric_transcription_queue_depth 0.0" in metrics
    ray.kill(pool, no_restart=True)

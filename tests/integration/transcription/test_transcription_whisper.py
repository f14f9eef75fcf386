"""The real engine on a committed speech fixture: Whisper base through faster-whisper, the
model assembled by `make install`, one short clip read back from the vault (one real-model
transcription in the whole suite; accuracy and speed are measured in
benchmarks/transcribe.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.queue import DONE
from actors.transcription.work import run_job
from fabric.config import FabricSettings, StorageSettings, VaultSettings
from fabric.storage.factory import open_stores
from fabric.transcribe.whisper import engine_from_settings
from fabric.vault.content import TRANSCRIPT, VOICEMAIL

SPEECH = Path(__file__).parents[2] / "fixtures" / "speech"


def key_words(name: str) -> list[str]:
    for line in (SPEECH / "texts.tsv").read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == name:
            return fields[1].split()
    raise AssertionError(f"{name} is not in texts.tsv")


async def test_whisper_transcribes_a_sealed_voicemail_with_its_key_words(tmp_path: Path) -> None:
    engine = engine_from_settings(FabricSettings().transcription)  # the installed model
    stores = await open_stores(
        StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                        spool_dir=tmp_path / "spool"),
        vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        sweep=False,
    )
    try:
        assert stores.content is not None
        await stores.content.put("t1", VOICEMAIL, "vm-1",
                                 (SPEECH / "package.wav").read_bytes())
        job = msg_tx.TranscriptionJob(
            job_id="job-1", tenant_id="t1", audio_object_id="vm-1",
            encoding=msg_tx.AUDIO_ENCODING_WAV,
            reply_to=msg_common.Address(kind="mailbox", key="t1/101"))
        outcome = await run_job(job, engine, stores.content, language="en")
        assert outcome.status == DONE, outcome
        assert outcome.engine == "faster-whisper"
        assert outcome.audio_seconds == pytest.approx(3.885, abs=0.05)
        text = (await (await stores.content.open("t1", TRANSCRIPT, "vm-1")).read_all()).decode()
        missing = [w for w in key_words("package.wav") if w not in text.lower()]
        assert not missing, f"key words {missing} not heard in {text!r}"
        assert outcome.words == len(text.split())
    finally:
        await stores.close()

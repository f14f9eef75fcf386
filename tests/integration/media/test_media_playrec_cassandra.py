"""The play/record leg sealing into the Cassandra content backend (the relay opens it from
the storage settings on its seal thread): what the caller said after the beep comes back
sample-exact, and the raw rows hold no plaintext audio."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from media_test_phone import feature_phone, pcm_of

from fabric.config import StorageSettings, VaultSettings
from fabric.media import g711
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.feature_types import PlayRecEnd, PlayRecFinished, PlayRecSpec, SealTarget
from fabric.media.sealsink import LazyContentStore
from fabric.media.wavstream import parse_pcm_wav, wav_chunks, wav_header
from fabric.testing import eventually
from fabric.vault.content import VOICEMAIL

pytestmark = pytest.mark.cassandra


async def test_playrec_seals_into_cassandra(
    cassandra_settings: StorageSettings, cassandra_session: object, tmp_path: Path
) -> None:
    vault = VaultSettings(root_key_file=tmp_path / "keys" / "root.key")
    base = random.randrange(23000, 27900, 100)
    engine = RelayEngine(RelayConfig(port_min=base, port_max=base + 99),
                         LazyContentStore(cassandra_settings, vault))
    engine.start()
    reader = LazyContentStore(cassandra_settings, vault)
    tenant = f"t-media-{random.getrandbits(32):08x}"
    try:
        phone = await feature_phone(engine, "call-cass", "caller")
        spec = PlayRecSpec(SealTarget(tenant, VOICEMAIL, "vm-cass"),
                           greeting=wav_header(1, 1600) + bytes(1600), beep_ms=100)
        info = engine.start_playrec("call-cass", "caller", spec)
        assert await phone.wait_received(info.greeting_ms // 20, 10.0)
        sent = g711.sweep_ulaw(5.0)  # 80 KB of PCM: two 64 KB chunks on Cassandra
        await phone.send_audio(sent)
        phone.send_key("#")
        events: list[object] = []

        def finished() -> bool:
            events.extend(engine.drain_events())
            return any(isinstance(e, PlayRecFinished) for e in events)

        await eventually(finished, timeout=20.0, what="the play/record leg finished")
        (done,) = [e for e in events if isinstance(e, PlayRecFinished)]
        assert (done.reason, done.recorded, done.samples) == (PlayRecEnd.DTMF, True, 40000)
        store = await reader()
        wav = b"".join([c async for c in wav_chunks(await store.open(tenant, VOICEMAIL,
                                                                     "vm-cass"))])
        assert parse_pcm_wav(wav) == (1, 8000, pcm_of(sent, 0))
        rows = cassandra_session.execute(  # type: ignore[attr-defined]
            "SELECT data FROM content_chunks LIMIT 200"
        )
        plain = pcm_of(sent, 0)[4000:4064]
        assert all(plain not in bytes(row.data) for row in rows)
        await engine.release_session("call-cass")
        await phone.close()
    finally:
        await engine.close()
        await reader.close()

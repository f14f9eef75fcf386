"""Fixtures for the voicemail unit tests (helpers in voicemail_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from voicemail_harness import Fabric, FakeCdrStore, FakeMedia

from actors.call import CallActor
from actors.call_index import ActiveCallIndex
from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from actors.mailbox import MailboxActor
from actors.number import NumberDirectory
from actors.privacy import PrivacyActor
from actors.tenant import TenantActor
from actors.transcription import LocalTranscription, TranscriptionService
from actors.transcription.service import EngineRunner
from fabric.config import StorageSettings, TranscriptionSettings, VaultSettings
from fabric.storage.base import CdrStore
from fabric.storage.factory import open_stores
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock
from fabric.transcribe.testing import ScriptedEngine
from fabric.vault.content import ContentStore

SPOKEN = "please call me back about the invoice"


@dataclass
class World:
    """The fabric harness plus the content store and the fake relay."""

    fabric: Fabric
    content: ContentStore
    media: FakeMedia


@asynccontextmanager
async def make_world(tmp_path: Path, transcription: bool = False) -> AsyncIterator[World]:
    """The world; with ``transcription``, an in-process pool whose engine answers a fixed
    text (``ScriptedEngine``)."""
    clock = ManualClock()
    stores = await open_stores(
        StorageSettings(backend="embedded", data_dir=tmp_path / "data",
                        spool_dir=tmp_path / "spool"),
        vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
        sweep=False,
        clock=clock,
    )
    assert stores.content is not None
    cdrs = FakeCdrStore()
    metrics = CallMetrics()
    media = FakeMedia(stores.content)
    services: dict[type, object] = {CdrStore: cdrs, CallMetrics: metrics,
                                    ContentStore: stores.content, CallMedia: media}
    local: LocalTranscription | None = None
    if transcription:
        runner = EngineRunner(ScriptedEngine(SPOKEN), stores.content, "en")
        local = LocalTranscription(runner, TranscriptionSettings())
        services[TranscriptionService] = local
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex, MailboxActor, PrivacyActor],
        services=services, clock=clock, background=False,
    )
    await system.start()
    if local is not None:
        local.attach(system)
    try:
        yield World(Fabric(system, clock, cdrs, metrics), stores.content, media)
    finally:
        if local is not None:
            await local.close()
        await system.stop()
        await stores.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with make_world(tmp_path) as w:
        yield w

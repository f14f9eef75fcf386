"""Voicemail unit-test harness: a LocalActorSystem with tenants, calls and mailboxes, a real
sealed content store (embedded, in a temporary folder) and fakes of our own media
interfaces (``CallMedia``, ``VoicemailMedia``) that seal a WAV the way the relay does."""

from __future__ import annotations

import io
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "calls"))

from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

from calls_harness import Fabric, FakeCdrStore  # noqa: E402

from actors.call import (
    CallActor,  # noqa: E402
    call_address,  # noqa: E402
)
from actors.call_index import ActiveCallIndex  # noqa: E402
from actors.call_media import CallMedia  # noqa: E402
from actors.call_metrics import CallMetrics  # noqa: E402
from actors.mailbox import MailboxActor  # noqa: E402
from actors.messages.v1 import media_events_pb2 as msg_media  # noqa: E402
from actors.number import NumberDirectory  # noqa: E402
from actors.privacy import PrivacyActor  # noqa: E402
from actors.tenant import TenantActor  # noqa: E402
from actors.transcription import LocalTranscription, TranscriptionService  # noqa: E402
from actors.transcription.service import EngineRunner  # noqa: E402
from fabric.api.v1 import common_pb2 as api_common  # noqa: E402
from fabric.config import StorageSettings, TranscriptionSettings, VaultSettings  # noqa: E402
from fabric.media.feature_types import (  # noqa: E402
    PlayRecEnd,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)
from fabric.storage.base import CdrStore  # noqa: E402
from fabric.storage.factory import open_stores  # noqa: E402
from fabric.systems import LocalActorSystem  # noqa: E402
from fabric.testing import ManualClock  # noqa: E402
from fabric.transcribe.testing import ScriptedEngine  # noqa: E402
from fabric.vault.content import ContentStore  # noqa: E402

__all__ = ["SPOKEN", "Fabric", "FakeCdrStore", "FakeMedia", "World", "make_world", "pcm_wav",
           "sweep"]

OFFER = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=bytes(range(30)))


def pcm_wav(pcm: bytes) -> bytes:
    """A mono 8 kHz 16-bit WAV file holding ``pcm``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return buf.getvalue()


def sweep(seconds: float) -> bytes:
    """A rising tone as PCM16 (distinct samples, so any change shows)."""
    import math

    n = int(8000 * seconds)
    out = bytearray()
    for i in range(n):
        f = 300 + 2000 * i / max(1, n)
        out += int(9000 * math.sin(2 * math.pi * f * i / 8000)).to_bytes(2, "little", signed=True)
    return bytes(out)


@dataclass
class Playing:
    """One play/record leg the fake relay runs."""

    call_id: str
    leg_id: str
    spec: PlayRecSpec
    recorded: bytes = b""  # PCM the caller 'said' after the beep
    in_greeting: bool = True


@dataclass
class FakeMedia:
    """The call's media service (``CallMedia`` and ``CallMediaFeatures``): every leg gets an
    answer; a play/record leg records what the test makes the caller say and seals it like
    the relay when it ends."""

    content: ContentStore
    legs: dict[str, Playing] = field(default_factory=dict)
    started_at_ms: int = 1_700_000_000_000

    async def open(self, call_id: str) -> None:
        pass

    async def add_leg(
        self, call_id: str, leg_id: str, offer: api_common.MediaOffer
    ) -> api_common.MediaAnswer | None:
        return api_common.MediaAnswer(relay_host="127.0.0.1", relay_port=40000,
                                      suite=offer.suite, key=bytes(30))

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        pass

    async def close(self, call_id: str) -> dict[str, float]:
        return {}

    async def start_fork(self, call_id: str, spec: object) -> object:
        raise AssertionError("no recording in these tests")

    pause_fork = resume_fork = stop_fork = start_fork

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        self.legs[call_id] = Playing(call_id, leg_id, spec)
        return PlayRecInfo(call_id, leg_id, greeting_ms=1500)

    def speak(self, call_id: str, pcm: bytes) -> None:
        """The greeting and beep are over; the caller says ``pcm``."""
        leg = self.legs[call_id]
        leg.in_greeting = False
        leg.recorded += pcm

    async def _seal(self, leg: Playing, reason: PlayRecEnd) -> PlayRecFinished:
        recorded = not leg.in_greeting and reason != PlayRecEnd.HANGUP_IN_GREETING
        if leg.in_greeting and reason in (PlayRecEnd.HANGUP, PlayRecEnd.STOPPED):
            reason = PlayRecEnd.HANGUP_IN_GREETING
        pcm = leg.recorded
        if reason == PlayRecEnd.MAX_LENGTH:
            pcm = pcm[: int(leg.spec.max_seconds * 8000) * 2]
        t = leg.spec.target
        if recorded:
            await self.content.put(t.tenant_id, t.data_class, t.object_id, pcm_wav(pcm),
                                   dict(t.metadata))
        return PlayRecFinished(
            call_id=leg.call_id, leg_id=leg.leg_id, reason=reason, recorded=recorded, target=t,
            samples=len(pcm) // 2, duration_ms=len(pcm) // 16, bytes=len(pcm),
            record_started_at_ms=self.started_at_ms if recorded else 0,
        )

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished | None:
        leg = self.legs.pop(call_id, None)
        return None if leg is None else await self._seal(leg, PlayRecEnd.STOPPED)

    async def end_by_itself(
        self, system: LocalActorSystem, call_id: str, reason: PlayRecEnd
    ) -> None:
        """The relay ended the leg (#, silence, max length): seal, then tell the call."""
        leg = self.legs.pop(call_id)
        done = await self._seal(leg, reason)
        names = {
            PlayRecEnd.DTMF: msg_media.PLAY_REC_END_REASON_DTMF,
            PlayRecEnd.MAX_LENGTH: msg_media.PLAY_REC_END_REASON_MAX_LENGTH,
            PlayRecEnd.SILENCE: msg_media.PLAY_REC_END_REASON_SILENCE,
            PlayRecEnd.HANGUP: msg_media.PLAY_REC_END_REASON_HANGUP,
        }
        event = msg_media.PlayRecFinished(
            call_id=call_id, leg_id=leg.leg_id, reason=names[reason], recorded=done.recorded,
            samples=done.samples, duration_ms=done.duration_ms, audio_bytes=done.bytes,
            record_started_at_ms=done.record_started_at_ms,
        )
        event.object.tenant_id = leg.spec.target.tenant_id
        event.object.data_class = leg.spec.target.data_class
        event.object.object_id = leg.spec.target.object_id
        await system.ref(call_address(call_id)).ask(event)


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

"""The media features through the relay Ray actor: a relay started with the storage and
vault settings opens the content store in its own process, answers a caller (greeting,
beep, record until '#') and records a bridged call; events are polled in one batch and
become the call actor's messages. The audio is read back from the store in this process."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from media_test_phone import FeaturePhone, pcm_of

from actors.media_watch import event_message
from actors.messages.v1 import media_events_pb2 as msg_media
from fabric.config import MediaSettings, StorageSettings, VaultSettings
from fabric.media import g711
from fabric.media.feature_types import (
    DtmfDetected,
    ForkFinished,
    ForkSpec,
    MediaEvent,
    PlayRecFinished,
    PlayRecSpec,
    SealTarget,
)
from fabric.media.relay_actor import MediaControl, content_of, start_media_relays
from fabric.media.sealsink import LazyContentStore
from fabric.media.timeline import deinterleave
from fabric.media.wavstream import parse_pcm_wav, wav_chunks, wav_header
from fabric.testing import eventually
from fabric.vault.content import RECORDING, VOICEMAIL

pytestmark = pytest.mark.ray

TENANT = "t-media-actor"
BASE = random.randrange(23000, 27800, 200)
SETTINGS = MediaSettings(port_min=BASE, port_max=BASE + 199, relays_per_node=1)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[StorageSettings, VaultSettings]:
    tmp = tmp_path_factory.mktemp("media-actor")
    return (StorageSettings(backend="embedded", data_dir=tmp / "data"),
            VaultSettings(root_key_file=tmp / "keys" / "root.key"))


@pytest.fixture(scope="module")
def control(
    ray_driver: Any, stores: tuple[StorageSettings, VaultSettings]
) -> Iterator[MediaControl]:
    import ray

    handles = start_media_relays(SETTINGS, 1, content=content_of(*stores))
    ray.get([h.counts.remote() for h in handles])
    yield MediaControl(handles)
    for handle in handles:
        ray.get(handle.shutdown.remote(), timeout=30)


async def phone_on(control: MediaControl, call_id: str, leg_id: str) -> FeaturePhone:
    await control.allocate_session(call_id)
    phone = FeaturePhone()
    await phone.start(await control.add_leg(call_id, leg_id, phone.offer()))
    phone.latch()

    async def latched() -> bool:
        status = await control.session_status(call_id)
        return any(leg.leg_id == leg_id and leg.latched for leg in status.legs)

    await eventually(latched, what=f"{leg_id} latched")  # type: ignore[arg-type]
    return phone


async def events_until(control: MediaControl, kind: type, seen: list[MediaEvent]) -> Any:
    async def arrived() -> bool:
        seen.extend(await control.poll_events())
        return any(isinstance(e, kind) for e in seen)

    await eventually(arrived, timeout=20.0, what=f"a {kind.__name__} event")  # type: ignore[arg-type]
    return next(e for e in seen if isinstance(e, kind))


async def read_back(stores: tuple[StorageSettings, VaultSettings], data_class: str,
                    object_id: str) -> tuple[int, bytes]:
    reader = LazyContentStore(*stores)
    try:
        store = await reader()
        wav = b"".join([c async for c in wav_chunks(await store.open(TENANT, data_class,
                                                                     object_id))])
    finally:
        await reader.close()
    channels, _, pcm = parse_pcm_wav(wav)
    return channels, pcm


async def test_relay_actor_answers_records_and_reports(
    control: MediaControl, stores: tuple[StorageSettings, VaultSettings]
) -> None:
    phone = await phone_on(control, "call-actor-vm", "caller")
    greeting = wav_header(1, 3200) + bytes(3200)  # 200 ms of a tenant's (silent) greeting
    spec = PlayRecSpec(SealTarget(TENANT, VOICEMAIL, "vm-actor"), greeting=greeting, beep_ms=100)
    info = await control.start_playrec("call-actor-vm", "caller", spec)
    assert info.greeting_ms == 300
    assert await phone.wait_received(15, 10.0)
    sent = g711.sweep_ulaw(0.5)
    await phone.send_audio(sent)
    phone.send_key("#")
    seen: list[MediaEvent] = []
    done: PlayRecFinished = await events_until(control, PlayRecFinished, seen)
    assert done.recorded and done.samples == 4000
    assert [e.digit for e in seen if isinstance(e, DtmfDetected)] == ["#"]
    assert await control.stop_playrec("call-actor-vm", "caller") == done  # already over
    call_id, message = event_message(done)
    assert call_id == "call-actor-vm" and isinstance(message, msg_media.PlayRecFinished)
    assert message.reason == msg_media.PLAY_REC_END_REASON_DTMF and message.samples == 4000
    assert message.object.object_id == "vm-actor" and message.object.data_class == VOICEMAIL
    assert await read_back(stores, VOICEMAIL, "vm-actor") == (1, pcm_of(sent, 0))
    await control.release_session("call-actor-vm")
    await phone.close()


async def test_relay_actor_records_a_bridged_call(
    control: MediaControl, stores: tuple[StorageSettings, VaultSettings]
) -> None:
    a = await phone_on(control, "call-actor-rec", "a")
    b = await phone_on(control, "call-actor-rec", "b")
    spec = ForkSpec(SealTarget(TENANT, RECORDING, "rec-actor"), announcement_prompt="")
    started = await control.start_fork("call-actor-rec", spec)
    assert started.channels == ("a", "b")
    sent = g711.sweep_ulaw(0.5)
    await a.send_audio(sent)
    assert await b.wait_received(25, 5.0)
    assert (await control.pause_fork("call-actor-rec")).state == "paused"
    assert (await control.resume_fork("call-actor-rec")).state == "recording"
    final = await control.stop_fork("call-actor-rec")
    assert final.state == "stopped" and final.bytes > 0 and final.drops == 0
    seen: list[MediaEvent] = []
    finished: ForkFinished = await events_until(control, ForkFinished, seen)
    _, message = event_message(finished)
    assert isinstance(message, msg_media.ForkFinished) and message.recorded
    assert list(message.channel_leg_ids) == ["a", "b"]
    channels, pcm = await read_back(stores, RECORDING, "rec-actor")
    ch_a, ch_b = deinterleave(pcm, channels)
    assert pcm_of(sent, 0) in ch_a and not any(ch_b)
    await control.release_session("call-actor-rec")
    await a.close()
    await b.close()

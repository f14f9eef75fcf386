"""The call actor's recording logic (actors.call_recording) against fakes of the relay's
media and recording fork: policy off / always / on demand, rights, hold, objection, CDR,
index. The real fork (audio, sealing) is tested in tests/integration/media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from calls_harness import Fabric, FakeCdrStore

from actors.call import CallActor, call_address
from actors.call_index import ActiveCallIndex
from actors.call_media import CallMedia, CallMediaFeatures
from actors.call_metrics import CallMetrics
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import media_events_pb2 as msg_media
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import recording_pb2 as msg_rec
from actors.number import NumberDirectory
from actors.recording_index import (
    RecordingIndex,
    RecordingSettingsActor,
    settings_address,
    shard_address,
)
from actors.tenant import TenantActor
from fabric.actor import VirtualActor, handler
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied
from fabric.media.feature_types import (
    ForkInfo,
    ForkSpec,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)
from fabric.storage.base import CdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock

OFFER = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"x" * 30)
OFF, ALWAYS, ON_DEMAND = (
    api_tenant.RECORDING_OFF,
    api_tenant.RECORDING_ALWAYS,
    api_tenant.RECORDING_ON_DEMAND,
)


class FakeMedia:
    """CallMedia: legs get ports, nothing is sent."""

    async def open(self, call_id: str) -> None:
        pass

    async def add_leg(
        self, call_id: str, leg_id: str, offer: api_common.MediaOffer
    ) -> api_common.MediaAnswer | None:
        return api_common.MediaAnswer(relay_host="127.0.0.1", relay_port=30000, suite=offer.suite)

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        pass

    async def close(self, call_id: str) -> dict[str, float]:
        return {}


@dataclass
class FakeFork(FakeMedia):
    """CallMedia with the relay's fork (CallMediaFeatures): remembers what was asked."""

    log: list[str] = field(default_factory=list)
    specs: list[ForkSpec] = field(default_factory=list)

    def _info(self, call_id: str, state: str) -> ForkInfo:
        spec = self.specs[-1]
        return ForkInfo(call_id, spec.target.object_id, spec.legs, state,
                        announced_at_ms=1_000, started_at_ms=1_000, bytes=3200, duration_ms=100)

    async def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        self.specs.append(spec)
        self.log.append("start")
        return self._info(call_id, "announcing")

    async def pause_fork(self, call_id: str) -> ForkInfo:
        self.log.append("pause")
        return self._info(call_id, "paused")

    async def resume_fork(self, call_id: str) -> ForkInfo:
        self.log.append("resume")
        return self._info(call_id, "recording")

    async def stop_fork(self, call_id: str) -> ForkInfo:
        self.log.append("stop")
        return self._info(call_id, "stopped")

    async def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        raise AssertionError("no voicemail in these tests")

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        raise AssertionError("no voicemail in these tests")


RESTRICTED: set[str] = set()


class FakePrivacy(VirtualActor[str]):
    """The privacy actor's restriction check: the subjects in RESTRICTED are restricted."""

    kind = "privacy"

    @handler
    async def on_check(self, msg: msg_privacy.CheckRestriction) -> msg_privacy.RestrictionVerdict:
        return msg_privacy.RestrictionVerdict(
            restricted=any(s in RESTRICTED for s in msg.subjects)
        )


@dataclass
class World:
    fabric: Fabric
    fork: FakeFork

    @property
    def system(self) -> LocalActorSystem:
        return self.fabric.system


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock, cdrs, fork = ManualClock(), FakeCdrStore(), FakeFork()
    assert isinstance(fork, CallMediaFeatures) and isinstance(fork, CallMedia)
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex, RecordingIndex,
         RecordingSettingsActor, FakePrivacy],
        services={CdrStore: cdrs, CallMetrics: CallMetrics(), CallMedia: fork},
        clock=clock, background=False)
    await system.start()
    try:
        yield World(Fabric(system, clock, cdrs, CallMetrics()), fork)
    finally:
        await system.stop()


async def _answered(
    w: World, caller_policy: int, callee_policy: int
) -> tuple[str, msg_common.Principal, msg_common.Principal, object]:
    t = await w.fabric.tenant()
    a, b = await t.user("A"), await t.user("B")
    await t.extension("101", a, recording_policy=caller_policy)
    await t.extension("102", b, recording_policy=callee_policy)
    await t.phone(a, "101")
    await t.phone(b, "102")
    call_id = f"{len(w.fork.specs) + 7:032x}"
    await w.system.ref(call_address(call_id)).ask(msg_call.StartCall(
        call_id=call_id, principal=a, from_extension="101",
        to=api_common.Destination(extension="102"), media=OFFER))
    await w.fabric.op(b, call_id, answer=api_calls.AnswerRequest(
        call_id=call_id, extension="102", media=OFFER))
    return call_id, a, b, t


async def _rec(w: World, who: msg_common.Principal, call_id: str, start: bool) -> api_rec.Recording:
    op = (msg_rec.RecordingOp(principal=who, start=api_rec.StartRecordingRequest(call_id=call_id))
          if start else
          msg_rec.RecordingOp(principal=who, stop=api_rec.StopRecordingRequest(call_id=call_id)))
    return await w.system.ref(call_address(call_id)).ask(op, reply=api_rec.Recording)


async def _hangup(w: World, who: msg_common.Principal, call_id: str) -> None:
    await w.fabric.op(who, call_id, hangup=api_calls.CallRef(call_id=call_id))


async def test_policy_off_records_nothing_and_refuses_a_start(world: World) -> None:
    call_id, a, b, t = await _answered(world, OFF, OFF)
    with pytest.raises(FailedPrecondition) as info:
        await _rec(world, a, call_id, start=True)
    assert info.value.error_id == "recording-not-allowed"
    await _hangup(world, a, call_id)
    cdr = world.fabric.cdrs.rows[call_id]
    assert world.fork.log == []
    assert (cdr.recorded, cdr.recording_consent, cdr.recording_ids) == (False, "", ())


async def test_policy_always_records_from_the_answer_with_the_policy_as_consent(
    world: World,
) -> None:
    call_id, a, b, t = await _answered(world, OFF, ALWAYS)
    assert world.fork.log == ["start"]
    spec = world.fork.specs[0]
    assert spec.legs == ("caller", "callee")
    assert (spec.target.data_class, spec.target.tenant_id) == ("recording", t.tenant_id)
    assert spec.announcement is None  # the relay's shipped prompt
    await _hangup(world, a, call_id)
    assert world.fork.log == ["start", "stop"]
    cdr = world.fabric.cdrs.rows[call_id]
    assert cdr.recorded and cdr.recording_consent == "extension-policy"
    assert cdr.recording_requested_by == "" and cdr.recording_ids == (spec.target.object_id,)
    assert cdr.recording_announced_at is not None
    shard = shard_address(t.tenant_id, spec.target.object_id)
    assert shard is not None
    entry = await world.system.ref(shard).ask(
        msg_rec.GetIndexedRecording(recording_id=spec.target.object_id),
        reply=msg_rec.IndexedRecording)
    assert entry.recording.state == api_rec.RECORDING_STOPPED
    assert entry.recording.audio_bytes == 3200
    assert list(entry.recording.extensions) == ["101", "102"]
    assert set(entry.user_ids) == {a.user_id, b.user_id}


async def test_on_demand_start_stop_hold_and_rights(world: World) -> None:
    call_id, a, b, t = await _answered(world, OFF, ON_DEMAND)
    assert world.fork.log == []  # on demand: nothing until asked
    with pytest.raises(PermissionDenied) as denied:  # a's own extension does not allow it
        await _rec(world, a, call_id, start=True)
    assert denied.value.error_id == "recording-not-allowed-for-you"
    stranger = await t.user("C")  # not a party
    with pytest.raises(NotFound):
        await _rec(world, stranger, call_id, start=True)
    started = await _rec(world, b, call_id, start=True)
    assert started.state == api_rec.RECORDING_ACTIVE and started.requested_by == b.user_id
    with pytest.raises(FailedPrecondition, match="already"):
        await _rec(world, b, call_id, start=True)
    await world.fabric.op(a, call_id, hold=api_calls.CallRef(call_id=call_id))
    await world.fabric.op(a, call_id, resume=api_calls.CallRef(call_id=call_id))
    stopped = await _rec(world, t.owner, call_id, start=False)  # an admin may stop it
    assert stopped.state == api_rec.RECORDING_STOPPED
    assert world.fork.log == ["start", "pause", "resume", "stop"]
    await _hangup(world, a, call_id)
    cdr = world.fabric.cdrs.rows[call_id]
    assert cdr.recording_consent == "call-request" and cdr.recording_requested_by == b.user_id
    assert world.fork.log == ["start", "pause", "resume", "stop"]  # nothing left to stop


async def test_an_objection_stops_the_recording_and_is_kept(world: World) -> None:
    t = await world.fabric.tenant()
    await world.system.ref(settings_address(t.tenant_id)).ask(
        msg_rec.PutRecordingSettingsState(settings=msg_rec.RecordingSettingsState(
            all_party_consent=True, objection_digit="9", announcement_wav=b"RIFF-prompt")))
    a, b = await t.user("A"), await t.user("B")
    await t.extension("101", a, recording_policy=ALWAYS)
    await t.extension("102", b)
    await t.phone(a, "101")
    await t.phone(b, "102")
    call_id = f"{4242:032x}"
    await world.system.ref(call_address(call_id)).ask(msg_call.StartCall(
        call_id=call_id, principal=a, from_extension="101",
        to=api_common.Destination(extension="102"), media=OFFER))
    await world.fabric.op(b, call_id, answer=api_calls.AnswerRequest(
        call_id=call_id, extension="102", media=OFFER))
    assert world.fork.specs[0].announcement == b"RIFF-prompt"
    ref = world.system.ref(call_address(call_id))
    await ref.tell(msg_media.DtmfDetected(call_id=call_id, leg_id="callee", digit="5"))
    await world.system.idle()
    assert world.fork.log == ["start"]  # not the objection key
    await ref.tell(msg_media.DtmfDetected(call_id=call_id, leg_id="callee", digit="9"))
    await world.system.idle()
    assert world.fork.log == ["start", "stop"]
    with pytest.raises(FailedPrecondition) as info:
        await _rec(world, a, call_id, start=True)
    assert info.value.error_id == "recording-objected"
    await _hangup(world, a, call_id)
    cdr = world.fabric.cdrs.rows[call_id]
    assert cdr.recorded and cdr.recording_objection == "callee"


async def test_a_restricted_party_is_not_recorded(world: World) -> None:
    call_id, a, b, t = await _answered(world, ALWAYS, OFF)
    assert world.fork.log == ["start"]  # (a policy start, nobody restricted yet)
    await _rec(world, a, call_id, start=False)
    RESTRICTED.add(b.user_id)
    try:
        with pytest.raises(FailedPrecondition) as info:
            await _rec(world, a, call_id, start=True)
    finally:
        RESTRICTED.clear()
    assert info.value.error_id == "recording-restricted"
    assert world.fork.log == ["start", "stop"]


async def test_a_blind_transfer_stops_the_recording_of_the_party_that_left(world: World) -> None:
    call_id, a, b, t = await _answered(world, OFF, ALWAYS)
    c = await t.user("C")
    await t.extension("103", c)
    await t.phone(c, "103")
    await world.fabric.op(b, call_id, transfer=api_calls.TransferRequest(
        call_id=call_id, to=api_common.Destination(extension="103")))
    assert world.fork.log == ["start", "stop"]  # sealed when 102 left
    await _hangup(world, a, call_id)
    cdr = world.fabric.cdrs.rows[call_id]
    assert cdr.recorded and len(cdr.recording_ids) == 1

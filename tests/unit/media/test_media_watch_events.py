"""The media watcher turns relay events into the call actor's messages and tells them to
the call's address (a fake system records what was told)."""

from __future__ import annotations

from typing import Any

from actors.media_watch import MediaWatch, event_message
from actors.messages.v1 import media_events_pb2 as msg_media
from fabric.errors import Unavailable
from fabric.media.feature_types import (
    DtmfDetected,
    ForkEnd,
    ForkFinished,
    ForkInfo,
    PlayRecEnd,
    PlayRecFinished,
    SealTarget,
)

TARGET = SealTarget("t1", "voicemail", "vm-1")


class FakeRef:
    def __init__(self, system: FakeSystem, address: Any) -> None:
        self.system, self.address = system, address

    async def tell(self, message: Any) -> None:
        if self.system.down:
            raise Unavailable("host down", error_id="actor-host-unavailable")
        self.system.told.append((self.address, message))


class FakeSystem:
    def __init__(self) -> None:
        self.told: list[tuple[Any, Any]] = []
        self.down = False

    def ref(self, address: Any) -> FakeRef:
        return FakeRef(self, address)


def test_every_event_becomes_its_message() -> None:
    call_id, m = event_message(DtmfDetected("c1", "b", "5", 120))
    assert call_id == "c1" and m == msg_media.DtmfDetected(
        call_id="c1", leg_id="b", digit="5", duration_ms=120)
    done = PlayRecFinished("c2", "caller", PlayRecEnd.HANGUP_IN_GREETING, False, TARGET, 0, 0, 0)
    call_id, m = event_message(done)
    assert call_id == "c2" and isinstance(m, msg_media.PlayRecFinished)
    assert m.reason == msg_media.PLAY_REC_END_REASON_HANGUP_IN_GREETING and not m.recorded
    assert (m.object.tenant_id, m.object.data_class, m.object.object_id) == (
        "t1", "voicemail", "vm-1")
    info = ForkInfo("c3", "rec-1", ("a", "b"), "failed", 5, 4, 320, 10, 2, "content-exists")
    call_id, m = event_message(ForkFinished(info, ForkEnd.FAILED, False))
    assert call_id == "c3" and isinstance(m, msg_media.ForkFinished)
    assert m.reason == msg_media.FORK_END_REASON_FAILED and m.error_id == "content-exists"
    assert list(m.channel_leg_ids) == ["a", "b"] and m.drops == 2 and m.announced_at_ms == 5
    for reason in PlayRecEnd:  # every reason has its enum value
        event = PlayRecFinished("c", "l", reason, False, TARGET, 0, 0, 0)
        assert event_message(event)[1].reason != 0  # type: ignore[attr-defined]


async def test_on_event_tells_the_calls_actor_and_survives_a_failure() -> None:
    system = FakeSystem()
    watch = MediaWatch(system, None, 1.0)  # type: ignore[arg-type]
    await watch.on_event(DtmfDetected("call-9", "a", "#", 100))
    (address, message), = system.told
    assert address.key == "call-9" and address.kind == "call"
    assert isinstance(message, msg_media.DtmfDetected) and watch.events_told == 1
    system.down = True
    await watch.on_event(DtmfDetected("call-9", "a", "1", 100))  # logged, not raised
    assert watch.events_told == 1

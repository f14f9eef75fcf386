"""The CallActor's media hook: with a CallMedia service, offers become relay legs, answers
reach each party, the session is released at the end and its stats go into the CDR; a
transferred-away party's leg is removed; a media timeout ends the call with one CDR."""

from __future__ import annotations

import pytest
from calls_harness import Fabric, FakeCdrStore

from actors.call import CallActor, call_address
from actors.call_index import ActiveCallIndex
from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.number import NumberDirectory
from actors.tenant import TenantActor
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import ResourceExhausted
from fabric.storage.base import CdrStore
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock


class FakeMedia:
    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []
        self.port = 30000

    async def open(self, call_id: str) -> None:
        self.log.append(("open", call_id))

    async def add_leg(self, call_id: str, leg_id: str,
                      offer: api_common.MediaOffer) -> api_common.MediaAnswer | None:
        self.port += 2
        self.log.append(("leg", call_id, leg_id, offer.suite))
        return api_common.MediaAnswer(relay_host="127.0.0.1", relay_port=self.port,
                                  suite=offer.suite, key=b"k" * 30)

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        self.log.append(("remove", call_id, leg_id))

    async def close(self, call_id: str) -> dict[str, float]:
        self.log.append(("close", call_id))
        return {"packets_sent": 500, "packets_received": 498, "packets_lost": 2,
                "jitter_ms": 1.5}


async def test_media_legs_follow_the_call() -> None:
    media, cdrs, clock = FakeMedia(), FakeCdrStore(), ManualClock()
    assert isinstance(media, CallMedia)
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
        services={CdrStore: cdrs, CallMetrics: CallMetrics(), CallMedia: media},
        clock=clock, background=False)
    await system.start()
    fabric = Fabric(system, clock, cdrs, CallMetrics())
    try:
        t = await fabric.tenant()
        a, b = await t.user("A"), await t.user("B")
        await t.extension("101", a)
        await t.extension("102", b)
        pa, pb = await t.phone(a, "101"), await t.phone(b, "102")
        offer = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"x" * 30)
        call_id = f"{99:032x}"
        from actors.call import call_address
        from actors.messages.v1 import call_pb2 as msg_call

        info = await system.ref(call_address(call_id)).ask(msg_call.StartCall(
            call_id=call_id, principal=a, from_extension="101",
            to=api_common.Destination(extension="102"), media=offer))
        assert isinstance(info, api_calls.CallInfo) and info.media.relay_port == 30002
        ringing = await pa.expect(api_calls.CALL_EVENT_RINGING)
        assert ringing.media.relay_port == 30002
        answered = await fabric.op(b, call_id, answer=api_calls.AnswerRequest(
            call_id=call_id, extension="102", media=offer))
        assert answered.media.relay_port == 30004
        assert (await pa.expect(api_calls.CALL_EVENT_ANSWERED)).media.relay_port == 30002
        await pb.expect(api_calls.CALL_EVENT_INCOMING)
        assert (await pb.expect(api_calls.CALL_EVENT_ANSWERED)).media.relay_port == 30004
        await fabric.op(a, call_id, hangup=api_calls.CallRef(call_id=call_id))
        assert [entry[0] for entry in media.log] == ["open", "leg", "leg", "close"]
        cdr = cdrs.rows[call_id]
        assert (cdr.packets_sent, cdr.packets_lost, cdr.jitter_ms) == (500, 2, 1.5)
    finally:
        await system.stop()


class RefusingMedia(FakeMedia):
    """A relay that refuses a leg (e.g. out of ports)."""

    async def add_leg(self, call_id: str, leg_id: str,
                      offer: api_common.MediaOffer) -> api_common.MediaAnswer | None:
        self.log.append(("leg", call_id, leg_id, offer.suite))
        raise ResourceExhausted("no port", error_id="media-ports-busy")


OFFER = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"x" * 30)


async def media_fabric(media: FakeMedia) -> tuple[LocalActorSystem, Fabric, FakeCdrStore]:
    cdrs, clock = FakeCdrStore(), ManualClock()
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
        services={CdrStore: cdrs, CallMetrics: CallMetrics(), CallMedia: media},
        clock=clock, background=False)
    await system.start()
    return system, Fabric(system, clock, cdrs, CallMetrics()), cdrs


async def answered_call(system: LocalActorSystem, fabric: Fabric, call_id: str) -> tuple[
        object, msg_common.Principal, msg_common.Principal, msg_common.Principal]:
    t = await fabric.tenant()
    a, b, c = await t.user("A"), await t.user("B"), await t.user("C")
    for ext, user in (("101", a), ("102", b), ("103", c)):
        await t.extension(ext, user)
        await t.phone(user, ext)  # (only registered extensions ring)
    await system.ref(call_address(call_id)).ask(msg_call.StartCall(
        call_id=call_id, principal=a, from_extension="101",
        to=api_common.Destination(extension="102"), media=OFFER))
    await fabric.op(b, call_id, answer=api_calls.AnswerRequest(call_id=call_id, extension="102",
                                                       media=OFFER))
    return t, a, b, c


async def test_transfer_removes_the_leaving_leg_and_the_new_callee_gets_its_own() -> None:
    media = FakeMedia()
    system, fabric, cdrs = await media_fabric(media)
    try:
        call_id = f"{7:032x}"
        _, a, b, c = await answered_call(system, fabric, call_id)
        await fabric.op(b, call_id, transfer=api_calls.TransferRequest(
            call_id=call_id, to=api_common.Destination(extension="103")))
        assert media.log[-1] == ("remove", call_id, "callee")
        await fabric.op(c, call_id, answer=api_calls.AnswerRequest(call_id=call_id, extension="103",
                                                           media=OFFER))
        assert media.log[-1] == ("leg", call_id, "callee-1", OFFER.suite)
        # now the caller leaves by transferring back: its own leg ("caller") goes
        await fabric.op(a, call_id, transfer=api_calls.TransferRequest(
            call_id=call_id, to=api_common.Destination(extension="102")))
        assert media.log[-1] == ("remove", call_id, "caller")
        await fabric.op(c, call_id, hangup=api_calls.CallRef(call_id=call_id))
        assert media.log[-1] == ("close", call_id)
        assert call_id in cdrs.rows
    finally:
        await system.stop()


async def test_media_timeout_ends_an_answered_call_once_with_its_cdr() -> None:
    media = FakeMedia()
    system, fabric, cdrs = await media_fabric(media)
    try:
        call_id = f"{8:032x}"
        await answered_call(system, fabric, call_id)
        ref = system.ref(call_address(call_id))
        await ref.ask(msg_call.MediaTimedOut(call_id=call_id))
        await ref.ask(msg_call.MediaTimedOut(call_id=call_id))  # a duplicate finds no call
        assert [e for e in media.log if e[0] == "close"] == [("close", call_id)]
        cdr = cdrs.rows[call_id]
        assert cdr.hangup_cause == "media-timeout" and cdr.disposition == "answered"
        assert cdr.packets_sent == 500
        assert len(cdrs.rows) == 1
    finally:
        await system.stop()


async def test_a_refused_media_leg_fails_the_dial_and_releases_the_session() -> None:
    media = RefusingMedia()
    system, fabric, cdrs = await media_fabric(media)
    try:
        t = await fabric.tenant()
        a, b = await t.user("A"), await t.user("B")
        await t.extension("101", a)
        await t.extension("102", b)
        call_id = f"{9:032x}"
        with pytest.raises(ResourceExhausted):
            await system.ref(call_address(call_id)).ask(msg_call.StartCall(
                call_id=call_id, principal=a, from_extension="101",
                to=api_common.Destination(extension="102"), media=OFFER))
        assert [e[0] for e in media.log] == ["open", "leg", "close"]
        assert not cdrs.rows
    finally:
        await system.stop()


async def test_without_media_service_calls_are_signalling_only(fabric: Fabric) -> None:
    t = await fabric.tenant()
    a, b = await t.user("A"), await t.user("B")
    await t.extension("101", a)
    await t.extension("102", b)
    info = await fabric.dial(a, "101", ext="102")
    assert not info.HasField("media")

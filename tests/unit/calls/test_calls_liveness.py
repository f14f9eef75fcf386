"""Calls whose parties vanish (over the in-process runtime, on a manual clock): a lost party
ends its calls after the grace period with one CDR whose talk time stops at the loss; a
party that registers again in time keeps its call; the session timer and the longest call;
ringing nobody goes on at once; a ring group never rings its caller."""

from __future__ import annotations

import pytest
from calls_harness import Fabric, Phone, Tenant

from actors.call_liveness import Verdict, check, party_key, start_session
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Disposition
from fabric.config import CallSettings
from fabric.errors import NotFound

TIMERS = CallSettings()  # the harness's CallActors run with the defaults
REFRESH, GRACE = TIMERS.refresh_interval_s, TIMERS.party_grace_s


async def _answered_call(fabric: Fabric) -> tuple[Tenant, object, object, Phone, str]:
    """101 (no softphone: API only) calls 102 (a registered softphone), 102 answers."""
    t = await fabric.tenant()
    alice, bob = await t.user("Alice"), await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob)
    pb = await t.phone(bob, "102")
    info = await fabric.dial(alice, "101", ext="102")
    await pb.expect(api_calls.CALL_EVENT_INCOMING)
    await fabric.op(
        bob, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102")
    )
    await pb.expect(api_calls.CALL_EVENT_ANSWERED)
    return t, alice, bob, pb, info.call_id


async def _unregister(t: Tenant, extension: str) -> None:
    await t.system.ref(tenant_address(t.tenant_id)).ask(
        msg_tenant.UnregisterEndpoint(extension=extension, registration_id=f"r{extension}")
    )


async def _state(fabric: Fabric, who: object, call_id: str) -> api_calls.CallInfo:
    return await fabric.op(who, call_id, get=api_calls.CallRef(call_id=call_id))  # type: ignore[arg-type]


async def test_lost_party_ends_the_call_after_the_grace_with_one_cdr(fabric: Fabric) -> None:
    t, alice, _bob, _pb, call_id = await _answered_call(fabric)
    await fabric.clock.advance(40)  # 40 s of talk
    await _unregister(t, "102")  # the phone on 102 vanishes (its stream closed)
    await fabric.ring_out(REFRESH)  # the next session check notices
    assert (await _state(fabric, alice, call_id)).state == api_calls.CALL_STATE_ANSWERED
    await fabric.ring_out(GRACE)  # still gone after the grace: the call ends
    cdr = fabric.cdrs.rows[call_id]
    assert fabric.cdrs.writes == 1
    assert cdr.hangup_cause == "party-lost" and cdr.disposition is Disposition.ANSWERED
    assert cdr.duration_s == 40  # talk time stops at the loss, not at the check
    with pytest.raises(NotFound):
        await _state(fabric, alice, call_id)
    await fabric.ring_out(REFRESH * 3)  # nothing fires twice
    assert fabric.cdrs.writes == 1
    ended = fabric.metrics.ended.labels(reason="party-lost")._value.get()
    assert ended == 1


async def test_party_that_registers_again_within_the_grace_keeps_its_call(
    fabric: Fabric,
) -> None:
    t, alice, bob, _pb, call_id = await _answered_call(fabric)
    await _unregister(t, "102")
    await fabric.ring_out(REFRESH)  # noticed: the grace runs
    again = await t.phone(bob, "102")  # the softphone registered again (a new stream)
    await fabric.ring_out(GRACE + REFRESH * 2)
    assert (await _state(fabric, alice, call_id)).state == api_calls.CALL_STATE_ANSWERED
    assert fabric.cdrs.writes == 0
    await fabric.op(alice, call_id, hangup=api_calls.CallRef(call_id=call_id))
    ended = await again.expect(api_calls.CALL_EVENT_ENDED)  # its events reach the new stream
    assert ended.end_reason == api_calls.END_REASON_COMPLETED


async def test_caller_that_vanishes_ends_the_call_and_the_callee_hears_why(
    fabric: Fabric,
) -> None:
    t = await fabric.tenant()
    alice, bob = await t.user("Alice"), await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob)
    pa, pb = await t.phone(alice, "101"), await t.phone(bob, "102")
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.op(
        bob, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102")
    )
    await _unregister(t, "101")
    await fabric.ring_out(REFRESH)
    await fabric.ring_out(GRACE)
    while (ev := await pb.next()).type != api_calls.CALL_EVENT_ENDED:
        pass
    assert ev.end_reason == api_calls.END_REASON_PARTY_LOST
    assert pa.pending() >= 0 and fabric.cdrs.rows[info.call_id].hangup_cause == "party-lost"


async def test_max_duration_ends_a_call_that_never_ends(fabric: Fabric) -> None:
    _t, alice, _bob, pb, call_id = await _answered_call(fabric)
    await fabric.ring_out(TIMERS.max_duration_s)
    while (ev := await pb.next()).type != api_calls.CALL_EVENT_ENDED:
        pass
    assert ev.end_reason == api_calls.END_REASON_MAX_DURATION
    assert fabric.cdrs.rows[call_id].hangup_cause == "max-duration"


def _leg(tenant: str, ext: str, endpoints: int = 1) -> msg_call.Leg:
    return msg_call.Leg(
        tenant_id=tenant,
        extension=ext,
        endpoints=[msg_common.Address(kind="_endpoint", key=f"e{ext}")] * endpoints,
    )


def test_session_expires_when_nobody_refreshes() -> None:
    s = msg_call.LiveCallState(
        started_at_ms=0,
        answered_at_ms=0,
        caller=_leg("t", "101", endpoints=0),
        answered=_leg("t", "102", endpoints=0),
    )
    start_session(s, 0)
    silent = {party_key(s.caller): None, party_key(s.answered): None}  # the tenant says nothing
    v = check(s, silent, int(TIMERS.session_expires_s * 1000) - 1, TIMERS)
    assert v.reason == api_calls.END_REASON_UNSPECIFIED and v.next_check_s > 0
    v = check(s, silent, int(TIMERS.session_expires_s * 1000), TIMERS)
    assert v == Verdict(api_calls.END_REASON_SESSION_EXPIRED, int(TIMERS.session_expires_s * 1000))


def test_a_registered_party_refreshes_the_session() -> None:
    s = msg_call.LiveCallState(caller=_leg("t", "101", 0), answered=_leg("t", "102"))
    start_session(s, 0)
    live = msg_tenant.PartyStatus(extension="102", endpoints=[_leg("t", "102").endpoints[0]])
    status = {party_key(s.caller): msg_tenant.PartyStatus(extension="101"),
              party_key(s.answered): live}
    late = int(TIMERS.session_expires_s * 1000) * 3
    v = check(s, status, late, TIMERS)
    assert v.reason == api_calls.END_REASON_UNSPECIFIED  # the API-only caller is never lost
    assert s.refreshed_at_ms == late


async def _group(fabric: Fabric, strategy: int) -> tuple[Tenant, list[object], str]:
    t = await fabric.tenant()
    users = [await t.user(f"U{i}") for i in range(3)]
    for i, u in enumerate(users):
        await t.extension(f"30{i}", u, voicemail=False)
    await t.admin(
        put_ring_group=api_tenant.PutRingGroupRequest(
            group=api_tenant.RingGroup(
                group_id="team", extensions=["300", "301", "302"], strategy=strategy
            )
        )
    )
    [number] = await t.numbers(1)
    await t.admin(
        route_number=api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, ring_group="team")
        )
    )
    return t, users, number


async def test_ring_group_never_rings_its_caller(fabric: Fabric) -> None:
    t, users, number = await _group(fabric, api_tenant.RING_ALL_AT_ONCE)
    phones = [await t.phone(u, f"30{i}") for i, u in enumerate(users)]
    info = await fabric.dial(users[0], "300", number=number)  # 300 calls its own group
    assert sorted(info.ringing) == ["301", "302"]
    ev = await phones[0].expect(api_calls.CALL_EVENT_RINGING)  # the caller hears ringing only
    assert ev.call_id == info.call_id
    assert phones[0].pending() == 0
    await phones[1].expect(api_calls.CALL_EVENT_INCOMING)
    await phones[2].expect(api_calls.CALL_EVENT_INCOMING)


async def test_ring_group_in_order_skips_members_with_no_registration(fabric: Fabric) -> None:
    t, users, number = await _group(fabric, api_tenant.RING_IN_ORDER)
    caller = await t.user("Caller")
    await t.extension("100", caller)
    last = await t.phone(users[2], "302")  # 300 and 301 have no softphone
    info = await fabric.dial(caller, "100", number=number)
    assert list(info.ringing) == ["302"]  # at once, not after two ring timeouts
    await last.expect(api_calls.CALL_EVENT_INCOMING)


async def test_unregistered_extension_goes_to_voicemail_at_once(fabric: Fabric) -> None:
    t = await fabric.tenant()
    alice, bob = await t.user("Alice"), await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob, voicemail=True)
    info = await fabric.dial(alice, "101", ext="102")  # nobody registered 102
    assert info.state == api_calls.CALL_STATE_ENDED
    assert info.end_reason == api_calls.END_REASON_VOICEMAIL
    await fabric.system.idle()
    assert fabric.cdrs.rows[info.call_id].disposition is Disposition.VOICEMAIL


async def test_active_calls_come_from_the_store_after_a_restart(fabric: Fabric) -> None:
    from test_calls_recovery import _successor

    t, alice, _bob, _pb, call_id = await _answered_call(fabric)
    after = await _successor(fabric, fabric.cdrs, fabric.clock)
    try:
        from actors.call_index import index_address

        ids = await after.system.ref(index_address(t.tenant_id)).ask(
            msg_tenant.ListActiveCallIds(), reply=msg_tenant.ActiveCallIds
        )
        assert list(ids.call_ids) == [call_id]
        assert (await _state(after, alice, call_id)).state == api_calls.CALL_STATE_ANSWERED
        await after.op(alice, call_id, hangup=api_calls.CallRef(call_id=call_id))
        await after.system.idle()
        ids = await after.system.ref(index_address(t.tenant_id)).ask(
            msg_tenant.ListActiveCallIds(), reply=msg_tenant.ActiveCallIds
        )
        assert list(ids.call_ids) == []
    finally:
        await after.system.stop()


async def test_the_gateway_drops_a_register_stream_that_stops_pinging() -> None:
    import asyncio
    from collections.abc import AsyncIterator

    from actors.api.calls import CallsServicer

    async def silent() -> AsyncIterator[api_calls.RegisterRequest]:
        yield api_calls.RegisterRequest(ping=api_calls.Ping(nonce=1))
        await asyncio.Event().wait()  # connected, but never a ping again
        yield api_calls.RegisterRequest()  # (unreachable)

    out: asyncio.Queue[object] = asyncio.Queue()
    await asyncio.wait_for(CallsServicer._read(silent(), out, 0.05), 5.0)  # type: ignore[arg-type]
    assert (await out.get()).pong.nonce == 1  # type: ignore[attr-defined]
    assert await out.get() is None  # the stream ends: its registration goes with it

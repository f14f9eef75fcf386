"""The CallActor state machine over the in-process runtime (no Ray, no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from calls_harness import Fabric

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Direction, Disposition
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from fabric.testing import number_shaped_labels


async def _two_phones(fabric: Fabric):  # type: ignore[no-untyped-def]
    t = await fabric.tenant()
    alice = await t.user("Alice")
    bob = await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob, voicemail=False, ring_timeout_s=10)
    pa = await t.phone(alice, "101")
    pb = await t.phone(bob, "102")
    return t, alice, bob, pa, pb


async def test_call_answer_hold_resume_hangup_writes_one_cdr(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    info = await fabric.dial(alice, "101", ext="102")
    assert info.state == api_calls.CALL_STATE_RINGING
    await pa.expect(api_calls.CALL_EVENT_RINGING)
    incoming = await pb.expect(api_calls.CALL_EVENT_INCOMING)
    assert incoming.call_id == info.call_id and getattr(incoming, "from") == "101"
    answered = await fabric.op(
        bob, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102")
    )
    assert answered.state == api_calls.CALL_STATE_ANSWERED and answered.answered_by == "102"
    await pa.expect(api_calls.CALL_EVENT_ANSWERED)
    await pb.expect(api_calls.CALL_EVENT_ANSWERED)
    held = await fabric.op(alice, info.call_id, hold=api_calls.CallRef(call_id=info.call_id))
    assert held.state == api_calls.CALL_STATE_HELD
    with pytest.raises(FailedPrecondition):
        await fabric.op(alice, info.call_id, hold=api_calls.CallRef(call_id=info.call_id))
    await fabric.op(bob, info.call_id, resume=api_calls.CallRef(call_id=info.call_id))
    await fabric.clock.advance(42)  # talk time on the actors' clock
    ended = await fabric.op(alice, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    assert (
        ended.state == api_calls.CALL_STATE_ENDED
        and ended.end_reason == api_calls.END_REASON_COMPLETED
    )
    for ev in (api_calls.CALL_EVENT_HELD, api_calls.CALL_EVENT_RESUMED, api_calls.CALL_EVENT_ENDED):
        await pa.expect(ev)
        await pb.expect(ev)
    await fabric.system.idle()
    cdr = fabric.cdrs.rows[info.call_id]
    assert fabric.cdrs.writes == 1
    assert cdr.disposition is Disposition.ANSWERED and cdr.direction is Direction.INTERNAL
    assert (cdr.from_number, cdr.to_number, cdr.tenant_id) == ("101", "102", t.tenant_id)
    assert cdr.answer_time is not None and cdr.start_time <= cdr.answer_time <= cdr.end_time
    assert cdr.duration_s == 42
    # the call is gone once its CDR is written
    with pytest.raises(NotFound):
        await fabric.op(alice, info.call_id, get=api_calls.CallRef(call_id=info.call_id))


async def test_unanswered_call_to_voicemail_extension(fabric: Fabric) -> None:
    t = await fabric.tenant()
    alice = await t.user("Alice")
    bob = await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob, voicemail=True, ring_timeout_s=15)
    pa = await t.phone(alice, "101")
    await t.phone(bob, "102")  # registered: it rings for its timeout, then voicemail
    info = await fabric.dial(alice, "101", ext="102")
    await pa.expect(api_calls.CALL_EVENT_RINGING)
    await fabric.ring_out(14)
    assert pa.pending() == 0
    await fabric.ring_out(2)
    ended = await pa.expect(api_calls.CALL_EVENT_ENDED)
    assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
    assert fabric.cdrs.rows[info.call_id].disposition is Disposition.VOICEMAIL


async def test_no_voicemail_rings_out_as_no_answer(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.ring_out(11)
    assert fabric.cdrs.rows[info.call_id].disposition is Disposition.NO_ANSWER


async def test_reject_and_caller_cancel(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    first = await fabric.dial(alice, "101", ext="102")
    info = await fabric.op(
        bob, first.call_id, reject=api_calls.RejectRequest(call_id=first.call_id, extension="102")
    )
    assert info.end_reason == api_calls.END_REASON_REJECTED
    second = await fabric.dial(alice, "101", ext="102")
    info = await fabric.op(alice, second.call_id, hangup=api_calls.CallRef(call_id=second.call_id))
    assert info.end_reason == api_calls.END_REASON_CANCELLED
    await fabric.system.idle()
    assert fabric.cdrs.rows[first.call_id].disposition is Disposition.REJECTED
    cancelled = fabric.cdrs.rows[second.call_id]
    assert cancelled.disposition is Disposition.NO_ANSWER
    assert cancelled.hangup_cause == "caller-cancelled"
    # the ring reminder of a cancelled call never fires into a new call
    await fabric.ring_out(30)
    assert fabric.cdrs.writes == 2


async def test_member_cannot_answer_for_someone_else(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    carol = await t.user("Carol")
    info = await fabric.dial(alice, "101", ext="102")
    with pytest.raises(NotFound):
        await fabric.op(carol, info.call_id, get=api_calls.CallRef(call_id=info.call_id))
    with pytest.raises(FailedPrecondition):
        await fabric.op(
            alice,
            info.call_id,
            answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102"),
        )
    with pytest.raises(PermissionDenied) as denied:  # not from another user's extension
        await fabric.dial(carol, "101", ext="102")
    assert denied.value.error_id == "extension-not-yours"
    other = await fabric.tenant("other")
    with pytest.raises(NotFound):
        await fabric.op(other.owner, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))


async def test_ring_group_in_order_via_number(fabric: Fabric) -> None:
    t = await fabric.tenant()
    caller = await t.user("Caller")
    users = [await t.user(f"U{i}") for i in range(3)]
    await t.extension("100", caller)
    for i, u in enumerate(users):
        await t.extension(f"20{i}", u)
    await t.admin(
        put_ring_group=api_tenant.PutRingGroupRequest(
            group=api_tenant.RingGroup(
                group_id="sales",
                extensions=["200", "201", "202"],
                strategy=api_tenant.RING_IN_ORDER,
                ring_timeout_s=5,
            )
        )
    )
    [number] = await t.numbers(1)
    await t.admin(
        route_number=api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, ring_group="sales")
        )
    )
    phones = [await t.phone(u, f"20{i}") for i, u in enumerate(users)]
    info = await fabric.dial(caller, "100", number=number)
    assert list(info.ringing) == ["200"]
    await phones[0].expect(api_calls.CALL_EVENT_INCOMING)
    await fabric.ring_out(5.5)
    await phones[0].expect(api_calls.CALL_EVENT_ENDED)
    await phones[1].expect(api_calls.CALL_EVENT_INCOMING)
    assert phones[2].pending() == 0
    await fabric.ring_out(5.5)
    await phones[2].expect(api_calls.CALL_EVENT_INCOMING)
    answered = await fabric.op(
        users[2],
        info.call_id,
        answer=api_calls.AnswerRequest(call_id=info.call_id, extension="202"),
    )
    assert answered.answered_by == "202"


async def test_ring_group_all_at_once_answered_elsewhere(fabric: Fabric) -> None:
    t = await fabric.tenant()
    caller = await t.user("Caller")
    a, b = await t.user("A"), await t.user("B")
    await t.extension("100", caller)
    await t.extension("201", a)
    await t.extension("202", b)
    await t.admin(
        put_ring_group=api_tenant.PutRingGroupRequest(
            group=api_tenant.RingGroup(group_id="desk", extensions=["201", "202"])
        )
    )
    [number] = await t.numbers(1)
    await t.admin(
        route_number=api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, ring_group="desk")
        )
    )
    pa, _pb = await t.phone(a, "201"), await t.phone(b, "202")
    info = await fabric.dial(caller, "100", number=number)
    assert sorted(info.ringing) == ["201", "202"]
    await fabric.op(
        b, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="202")
    )
    await pa.expect(api_calls.CALL_EVENT_INCOMING)
    ev = await pa.expect(api_calls.CALL_EVENT_ENDED)
    assert ev.end_reason == api_calls.END_REASON_ANSWERED_ELSEWHERE


async def test_after_hours_routing(fabric: Fabric) -> None:
    t = await fabric.tenant()
    caller, desk, night = await t.user("C"), await t.user("D"), await t.user("N")
    await t.extension("100", caller)
    await t.extension("200", desk)
    await t.extension("300", night)
    await t.phone(desk, "200")
    await t.phone(night, "300")
    [number] = await t.numbers(1)
    await t.admin(
        route_number=api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, extension="200")
        )
    )
    # open one minute a week: the minute the manual clock starts in
    now = datetime.fromtimestamp(fabric.clock.now(), tz=UTC)
    minute = now.hour * 60 + now.minute
    await t.admin(
        set_business_hours=api_tenant.SetBusinessHoursRequest(
            hours=api_tenant.BusinessHours(
                enabled=True,
                timezone="UTC",
                after_hours_extension="300",
                open=[
                    api_tenant.OpenInterval(
                        weekday=now.weekday(), start_minute=minute, end_minute=minute + 1
                    )
                ],
            )
        )
    )
    info = await fabric.dial(caller, "100", number=number)
    assert list(info.ringing) == ["200"]  # open
    await fabric.clock.advance(60)
    info = await fabric.dial(caller, "100", number=number)
    assert list(info.ringing) == ["300"]  # after hours
    # dialling the extension directly ignores business hours
    direct = await fabric.dial(caller, "100", ext="200")
    assert list(direct.ringing) == ["200"]


async def test_forwarding_always_and_no_answer(fabric: Fabric) -> None:
    t = await fabric.tenant()
    c, a, b = await t.user("C"), await t.user("A"), await t.user("B")
    await t.extension("100", c)
    await t.extension("300", b, voicemail=True)
    await t.extension(
        "200",
        a,
        ring_timeout_s=5,
        forwarding=api_tenant.ForwardingRule(mode=api_tenant.FORWARD_NO_ANSWER, to_extension="300"),
    )
    await t.phone(a, "200")
    await t.phone(b, "300")
    info = await fabric.dial(c, "100", ext="200")
    assert list(info.ringing) == ["200"]
    await fabric.ring_out(6)
    got = await fabric.op(c, info.call_id, get=api_calls.CallRef(call_id=info.call_id))
    assert list(got.ringing) == ["300"]
    await t.extension(
        "200",
        a,
        forwarding=api_tenant.ForwardingRule(mode=api_tenant.FORWARD_ALWAYS, to_extension="300"),
    )
    info = await fabric.dial(c, "100", ext="200")
    assert list(info.ringing) == ["300"]


async def test_blind_transfer(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    carol = await t.user("Carol")
    await t.extension("103", carol)
    pc = await t.phone(carol, "103")
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.op(
        bob, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102")
    )
    moved = await fabric.op(
        bob,
        info.call_id,
        transfer=api_calls.TransferRequest(
            call_id=info.call_id, to=api_common.Destination(extension="103")
        ),
    )
    assert moved.state == api_calls.CALL_STATE_RINGING and list(moved.ringing) == ["103"]
    await pc.expect(api_calls.CALL_EVENT_INCOMING)
    types = [(await pb.next()).type for _ in range(3)]
    assert (
        types[-1] == api_calls.CALL_EVENT_ENDED
        and pb.events[-1].end_reason == api_calls.END_REASON_TRANSFERRED
    )
    with pytest.raises(NotFound):  # bob has left the call
        await fabric.op(bob, info.call_id, get=api_calls.CallRef(call_id=info.call_id))
    await fabric.op(
        carol, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="103")
    )
    await fabric.op(alice, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    await fabric.system.idle()
    assert fabric.cdrs.writes == 1
    assert fabric.cdrs.rows[info.call_id].disposition is Disposition.ANSWERED


async def test_numbers_across_tenants_and_external(fabric: Fabric) -> None:
    a = await fabric.tenant("a")
    b = await fabric.tenant("b")
    ua, ub = await a.user("A"), await b.user("B")
    await a.extension("101", ua)
    await b.extension("201", ub)
    [number] = await b.numbers(1)
    await b.admin(
        route_number=api_tenant.RouteNumberRequest(
            route=api_tenant.NumberRoute(number=number, extension="201")
        )
    )
    pb = await b.phone(ub, "201")
    info = await fabric.dial(ua, "101", number=number)
    await pb.expect(api_calls.CALL_EVENT_INCOMING)
    await fabric.op(
        ub, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="201")
    )
    await fabric.op(ub, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    await fabric.system.idle()
    cdr = fabric.cdrs.rows[info.call_id]
    assert cdr.tenant_id == a.tenant_id and cdr.direction is Direction.OUTBOUND
    with pytest.raises(Unavailable) as exc:
        await fabric.dial(ua, "101", number="+4930123456789")
    assert exc.value.error_id == "no-carrier-trunk"
    with pytest.raises(NotFound):  # in the pool but not allocated
        await fabric.dial(ua, "101", number="+15550109999")
    assert fabric.cdrs.writes == 1


async def test_cdr_store_down_then_back_writes_exactly_once(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    fabric.cdrs.down = True
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.op(alice, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    assert info.call_id not in fabric.cdrs.rows
    fabric.cdrs.down = False
    await fabric.ring_out(6)
    assert fabric.cdrs.writes == 1 and info.call_id in fabric.cdrs.rows


async def test_metrics_count_without_numbers_in_labels(fabric: Fabric) -> None:
    t, alice, bob, pa, pb = await _two_phones(fabric)
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.op(
        bob, info.call_id, answer=api_calls.AnswerRequest(call_id=info.call_id, extension="102")
    )
    await fabric.op(bob, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    with pytest.raises(Unavailable):
        await fabric.dial(alice, "101", number="+4930123456789")
    text = fabric.metrics.text()
    assert "fabric_calls_started_total 1.0" in text
    assert "fabric_calls_answered_total 1.0" in text
    assert 'fabric_calls_failed_total{reason="no-carrier-trunk"} 1.0' in text
    assert 'fabric_calls_ended_total{reason="completed"} 1.0' in text
    assert "fabric_calls_active 0.0" in text
    assert number_shaped_labels(text) == []  # no number or extension in any label

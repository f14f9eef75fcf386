"""Call control end to end: SDK softphones over gRPC with TLS, a real local Ray cluster
(RayActorSystem: actor hosts + gateway), and the real Cassandra CDR store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from calls_e2e_harness import E2EFabric

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Disposition
from fabric.client import FabricClient, Softphone
from fabric.errors import FabricError, NotFound, PermissionDenied, Unavailable
from fabric.testing import eventually, number_shaped_labels

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Office:
    """A tenant with an owner client and member clients per extension."""

    tenant_id: str
    owner: FabricClient
    members: dict[str, FabricClient]
    users: dict[str, str]


async def make_office(
    e2e: E2EFabric, *extensions: str, voicemail: tuple[str, ...] = (), ring_timeout_s: int = 0
) -> Office:
    op = e2e.client()
    made = await op.create_tenant(f"Office {time.monotonic_ns()}")
    owner = op.with_token(made.owner_api_key)
    members: dict[str, FabricClient] = {}
    users: dict[str, str] = {}
    for ext in extensions:
        user = await owner.create_user(f"User {ext}")
        await owner.put_extension(
            ext, user.user_id, voicemail=ext in voicemail, ring_timeout_s=ring_timeout_s
        )
        key = await owner.create_api_key(user.user_id)
        members[ext] = owner.with_token(key.secret)
        users[ext] = user.user_id
    return Office(made.tenant.tenant_id, owner, members, users)


def ms_now() -> int:
    return int(time.time() * 1000)


async def test_call_ring_answer_hold_resume_hangup_and_its_cdr(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "101", "102")
    a, b = o.members["101"], o.members["102"]
    async with Softphone(a, "101") as pa, Softphone(b, "102") as pb:
        t_dial = ms_now()
        call = await a.dial("101", extension="102")
        assert call.state == api_calls.CALL_STATE_RINGING
        await pa.expect(api_calls.CALL_EVENT_RINGING, call.call_id)
        incoming = await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        assert getattr(incoming, "from") == "101" and incoming.to == "102"
        t_answer = ms_now()
        await b.answer(call.call_id, "102")
        await pa.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
        await pb.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
        assert (await a.hold(call.call_id)).state == api_calls.CALL_STATE_HELD
        await pb.expect(api_calls.CALL_EVENT_HELD, call.call_id)
        assert (await b.resume(call.call_id)).state == api_calls.CALL_STATE_ANSWERED
        await pa.expect(api_calls.CALL_EVENT_RESUMED, call.call_id)
        t_hangup = ms_now()
        ended = await a.hangup(call.call_id)
        assert ended.end_reason == api_calls.END_REASON_COMPLETED
        ev = await pb.expect(api_calls.CALL_EVENT_ENDED, call.call_id)
        assert ev.end_reason == api_calls.END_REASON_COMPLETED
    # the ENDED event goes out after the CDR is written: it is readable at once
    record = await o.owner.get_cdr(call.call_id)
    assert record.disposition == api_calls.END_REASON_COMPLETED
    assert (getattr(record, "from"), record.to, record.direction) == ("101", "102", "internal")
    assert t_dial - 50 <= record.started_at_ms <= record.answered_at_ms <= record.ended_at_ms
    assert t_answer - 50 <= record.answered_at_ms <= t_hangup
    assert t_hangup - 50 <= record.ended_at_ms <= ms_now() + 50
    # talk time comes from the CDR's own timestamps (the hosts' clocks), so no test sleeps
    # for it: whole seconds from answer to end
    assert record.duration_s == (record.ended_at_ms - record.answered_at_ms) // 1000
    stored = await e2e.cdrs.get(o.tenant_id, call.call_id)
    assert stored.disposition is Disposition.ANSWERED
    page = await o.owner.query_cdrs(t_dial - 60_000, number="102")
    assert [r.call_id for r in page.records] == [call.call_id]
    # a member reads the CDRs of their own calls (the policy: access to one's own data)
    mine = await o.members["102"].get_cdr(call.call_id)
    assert (mine.call_id, mine.disposition) == (call.call_id, api_calls.END_REASON_COMPLETED)


async def test_unanswered_call_to_voicemail_extension(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "201", "202", voicemail=("202",), ring_timeout_s=5)
    a = o.members["201"]
    async with Softphone(a, "201") as pa, Softphone(o.members["202"], "202") as pb:
        call = await a.dial("201", extension="202")
        await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        ended = await pa.expect(api_calls.CALL_EVENT_ENDED, call.call_id, timeout_s=15)
        assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
        assert (await pb.expect(api_calls.CALL_EVENT_ENDED, call.call_id)).end_reason == (
            api_calls.END_REASON_VOICEMAIL
        )
    record = await o.owner.get_cdr(call.call_id)
    assert record.disposition == api_calls.END_REASON_VOICEMAIL and record.answered_at_ms == 0
    assert record.ended_at_ms - record.started_at_ms >= 4_900


async def test_ring_group_in_order(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "301", "311", "312")
    await o.owner.put_ring_group("support", ["311", "312"], api_tenant.RING_IN_ORDER, 5)
    [number] = await e2e.client().allocate_numbers(o.tenant_id, count=1)
    await o.owner.route_number(number, ring_group="support")
    async with Softphone(o.members["311"], "311") as p1, Softphone(o.members["312"], "312") as p2:
        call = await o.members["301"].dial("301", number=number)
        assert list(call.ringing) == ["311"]
        await p1.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        assert p2.events.empty()
        await p2.expect(api_calls.CALL_EVENT_INCOMING, call.call_id, timeout_s=15)
        assert (await p1.expect(api_calls.CALL_EVENT_ENDED, call.call_id)).end_reason == (
            api_calls.END_REASON_NO_ANSWER
        )
        info = await o.members["312"].answer(call.call_id, "312")
        assert info.answered_by == "312"
        await o.members["312"].hangup(call.call_id)
    record = await o.owner.get_cdr(call.call_id)
    assert record.disposition == api_calls.END_REASON_COMPLETED and record.to == number


async def test_after_hours_routing(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "401", "410", "499")
    [number] = await e2e.client().allocate_numbers(o.tenant_id, count=1)
    await o.owner.route_number(number, extension="410")
    tomorrow = (datetime.now(UTC).weekday() + 1) % 7  # open only tomorrow: closed now
    await o.owner.set_business_hours(
        api_tenant.BusinessHours(
            enabled=True,
            timezone="UTC",
            after_hours_extension="499",
            open=[api_tenant.OpenInterval(weekday=tomorrow, start_minute=0, end_minute=1440)],
        )
    )
    async with Softphone(o.members["499"], "499") as night:
        call = await o.members["401"].dial("401", number=number)
        assert list(call.ringing) == ["499"]
        await night.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await o.members["401"].hangup(call.call_id)
    today = datetime.now(UTC).weekday()
    await o.owner.set_business_hours(
        api_tenant.BusinessHours(
            enabled=True,
            after_hours_extension="499",
            open=[api_tenant.OpenInterval(weekday=today, start_minute=0, end_minute=1440)],
        )
    )
    async with Softphone(o.members["410"], "410"):  # only registered extensions ring
        call = await o.members["401"].dial("401", number=number)
        assert list(call.ringing) == ["410"]
        await o.members["401"].hangup(call.call_id)


async def test_blind_transfer(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "501", "502", "503")
    a, b, c = (o.members[x] for x in ("501", "502", "503"))
    async with Softphone(a, "501") as pa, Softphone(b, "502") as pb, Softphone(c, "503") as pc:
        call = await a.dial("501", extension="502")
        await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await b.answer(call.call_id, "502")
        moved = await b.transfer(call.call_id, extension="503")
        assert moved.state == api_calls.CALL_STATE_RINGING and list(moved.ringing) == ["503"]
        assert (await pb.expect(api_calls.CALL_EVENT_ENDED, call.call_id)).end_reason == (
            api_calls.END_REASON_TRANSFERRED
        )
        await pa.expect(api_calls.CALL_EVENT_TRANSFERRING, call.call_id)
        await pc.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await c.answer(call.call_id, "503")
        await pa.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
        await c.hangup(call.call_id)
        await pa.expect(api_calls.CALL_EVENT_ENDED, call.call_id)
    page = await o.owner.query_cdrs(ms_now() - 60_000)
    assert [r.call_id for r in page.records].count(call.call_id) == 1
    assert (await o.owner.get_cdr(call.call_id)).disposition == api_calls.END_REASON_COMPLETED


async def test_reject_and_caller_hangs_up_while_ringing(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "601", "602")
    a, b = o.members["601"], o.members["602"]
    async with Softphone(a, "601") as pa, Softphone(b, "602") as pb:
        first = await a.dial("601", extension="602")
        await pb.expect(api_calls.CALL_EVENT_INCOMING, first.call_id)
        await b.reject(first.call_id, "602")
        assert (await pa.expect(api_calls.CALL_EVENT_ENDED, first.call_id)).end_reason == (
            api_calls.END_REASON_REJECTED
        )
        second = await a.dial("601", extension="602")
        await pb.expect(api_calls.CALL_EVENT_INCOMING, second.call_id)
        await a.hangup(second.call_id)
        assert (await pb.expect(api_calls.CALL_EVENT_ENDED, second.call_id)).end_reason == (
            api_calls.END_REASON_CANCELLED
        )
    assert (await o.owner.get_cdr(first.call_id)).disposition == api_calls.END_REASON_REJECTED
    cancelled = await o.owner.get_cdr(second.call_id)
    assert cancelled.disposition == api_calls.END_REASON_CANCELLED
    assert cancelled.hangup_cause == "caller-cancelled"


async def test_cross_tenant_number_and_external_number(e2e: E2EFabric) -> None:
    x = await make_office(e2e, "701")
    y = await make_office(e2e, "801")
    [number] = await e2e.client().allocate_numbers(y.tenant_id, count=1)
    await y.owner.route_number(number, extension="801")
    async with Softphone(y.members["801"], "801") as py:
        call = await x.members["701"].dial("701", number=number)
        await py.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await y.members["801"].answer(call.call_id, "801")
        await y.members["801"].hangup(call.call_id)
    assert (await x.owner.get_cdr(call.call_id)).direction == "outbound"
    with pytest.raises(NotFound):  # kept in the caller's tenant only
        await y.owner.get_cdr(call.call_id)
    with pytest.raises(Unavailable) as exc:
        await x.members["701"].dial("701", number="+4930123456789")
    assert exc.value.error_id == "no-carrier-trunk"
    # the same, seen as a raw gRPC status
    try:
        await x.members["701"].calls.Dial(
            api_calls.DialRequest(
                from_extension="701", to=api_common.Destination(number="+4930123456789")
            ),
            metadata=x.members["701"].metadata,
        )
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert err.details().startswith("no-carrier-trunk: ")
        assert ("fabric-error-id", "no-carrier-trunk") in tuple(err.trailing_metadata() or ())
    else:
        raise AssertionError("external dial succeeded")


async def test_active_calls_and_metrics_labels(e2e: E2EFabric) -> None:
    o = await make_office(e2e, "901", "902")
    async with Softphone(o.members["902"], "902"):  # only registered extensions ring
        call = await o.members["901"].dial("901", extension="902")
        active = await o.owner.active_calls()
        assert call.call_id in [c.call_id for c in active]
        with pytest.raises(FabricError):
            await o.members["901"].active_calls()  # members may not list the tenant's calls
        await o.members["901"].hangup(call.call_id)
    from prometheus_client import CollectorRegistry, generate_latest

    from actors.metrics_export import gather_texts, merge

    texts = await gather_texts(e2e.system, e2e.media)  # what `make up` serves on /metrics

    class _Snapshot:
        def collect(self) -> Any:
            return iter(merge(texts))

    registry = CollectorRegistry()
    registry.register(_Snapshot())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert "fabric_calls_started_total" in text and "fabric_calls_active" in text
    assert "fabric_call_dial_to_ringing_seconds_bucket" in text
    assert 'fabric_grpc_requests_total{code="OK",method="/fabric.api.v1.Calls/Dial"}' in text
    assert 'code="PERMISSION_DENIED",method="/fabric.api.v1.Calls/ListActiveCalls"' in text
    assert 'fabric_media_sessions_active{relay="0"}' in text  # the relays' series too
    assert 'fabric_cdr_writes_total{outcome="written"}' in text  # CDRs, on every backend
    assert "fabric_cdr_spool_depth" in text and 'fabric_hosts_up{role="actor"}' in text
    assert "_created" not in text  # no timestamp families summed across processes
    assert "+1555" not in text and o.tenant_id not in text
    assert number_shaped_labels(text) == []  # no number or extension in any label


async def test_carrier_suspends_resumes_and_closes_a_tenant(e2e: E2EFabric) -> None:
    from fabric.errors import FailedPrecondition, Unauthenticated

    op = e2e.client()
    o = await make_office(e2e, "111", "112")
    [number] = await op.allocate_numbers(o.tenant_id, count=1)
    assert (await op.set_plan(o.tenant_id, api_carrier.PLAN_PRO)).plan == api_carrier.PLAN_PRO
    suspended = await op.suspend_tenant(o.tenant_id)
    assert suspended.status == api_carrier.TENANT_STATUS_SUSPENDED

    key_cache_s = e2e.settings.api.key_cache_s

    async def refused_at_the_edge(error: type[Exception], error_id: str) -> None:
        # verified keys are cached for api.key_cache_s (5 s): poll past it
        async def refused() -> bool:
            try:
                await o.members["111"].dial("111", extension="112")
            except error as exc:
                assert getattr(exc, "error_id", "") == error_id
                return True
            except FailedPrecondition as exc:  # refused by the tenant while the key is cached
                assert exc.error_id == "tenant-inactive"
                return False
            raise AssertionError("a suspended or closed tenant placed a call")

        await eventually(refused, key_cache_s + 30, 0.5, what=f"the key refused ({error_id})")

    await refused_at_the_edge(PermissionDenied, "tenant-suspended")
    x = await make_office(e2e, "121")
    with pytest.raises(NotFound):  # a suspended tenant's number is not in service
        await x.members["121"].dial("121", number=number)
    await op.resume_tenant(o.tenant_id)
    call = await eventually(lambda: o.members["111"].dial("111", extension="112"),
                            key_cache_s + 30, 0.5, what="a resumed tenant's call",
                            retry_on=(PermissionDenied,))
    if call.state != api_calls.CALL_STATE_ENDED:  # (112 has no phone: it ends at once)
        await o.members["111"].hangup(call.call_id)
    closed = await op.close_tenant(o.tenant_id)
    assert closed.status == api_carrier.TENANT_STATUS_CLOSED and not closed.numbers
    await refused_at_the_edge(Unauthenticated, "bad-credentials")
    with pytest.raises(FailedPrecondition):
        await op.resume_tenant(o.tenant_id)
    [again] = await op.allocate_numbers(x.tenant_id, numbers=[number])  # back in the pool
    assert again == number

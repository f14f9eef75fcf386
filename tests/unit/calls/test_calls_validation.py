"""Requests checked where they are owned: the actor answers bad input with the right
error id, and a refused request leaves nothing behind."""

from __future__ import annotations

import pytest
from calls_harness import Fabric

from actors.call import call_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY
from actors.tenant import tenant_address
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import InvalidArgument, NotFound


async def test_a_dial_without_destination_is_refused_and_leaves_no_call(fabric: Fabric) -> None:
    t = await fabric.tenant()
    alice = await t.user("Alice")
    await t.extension("101", alice)
    call_id = "ab" * 16
    ref = fabric.system.ref(call_address(call_id))
    for to, error_id in (
        (api_common.Destination(), "missing-destination"),
        (api_common.Destination(extension="1"), "invalid-extension"),
        (api_common.Destination(number="555"), "invalid-number"),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await ref.ask(msg_call.StartCall(
                call_id=call_id, principal=alice, from_extension="101", to=to))
        assert refused.value.error_id == error_id
    with pytest.raises(NotFound):  # nothing was persisted
        await ref.ask(msg_call.CallOp(principal=alice, get=api_calls.CallRef(call_id=call_id)))


async def test_a_transfer_without_destination_is_refused(fabric: Fabric) -> None:
    t = await fabric.tenant()
    alice, bob = await t.user("Alice"), await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob)
    await t.phone(alice, "101")
    await t.phone(bob, "102")  # ringing skips extensions with no registration
    info = await fabric.dial(alice, "101", ext="102")
    await fabric.op(bob, info.call_id, answer=api_calls.AnswerRequest(
        call_id=info.call_id, extension="102"))
    with pytest.raises(InvalidArgument) as refused:
        await fabric.op(alice, info.call_id, transfer=api_calls.TransferRequest(
            call_id=info.call_id, to=api_common.Destination()))
    assert refused.value.error_id == "missing-destination"
    still = await fabric.op(alice, info.call_id, get=api_calls.CallRef(call_id=info.call_id))
    assert still.state == api_calls.CALL_STATE_ANSWERED


async def test_the_directory_and_the_tenant_check_carrier_requests(fabric: Fabric) -> None:
    t = await fabric.tenant()
    directory = fabric.system.ref(DIRECTORY)
    for request in (
        msg_numbers.AllocateNumbers(tenant_id=t.tenant_id),  # neither count nor numbers
        msg_numbers.AllocateNumbers(tenant_id=t.tenant_id, count=1, numbers=["+15550100001"]),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await directory.ask(request)
        assert refused.value.error_id == "invalid-allocation"
    with pytest.raises(InvalidArgument) as bad_number:  # checked before any pool lookup
        await directory.ask(msg_numbers.AllocateNumbers(
            tenant_id=t.tenant_id, numbers=["+19990000001", "555"]))
    assert bad_number.value.error_id == "invalid-number"
    with pytest.raises(InvalidArgument) as bad_plan:
        await fabric.system.ref(tenant_address(t.tenant_id)).ask(
            msg_tenant.SetTenantPlan(plan=api_carrier.PLAN_UNSPECIFIED))
    assert bad_plan.value.error_id == "invalid-plan"

"""The 30-day clock, its metrics, the restriction check and correction, on both backends."""

from __future__ import annotations

import pytest
from privacy_world import DAY, World

from actors.privacy.metrics import privacy_metrics_text
from actors.privacy.restrictions import is_restricted, restricted_or_closed
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound

OUTSIDE = "+15550100777"


def _gauge(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


async def test_a_logged_request_has_a_30_day_deadline_and_shows_in_the_metrics(
    world: World,
) -> None:
    await world.cdr(OUTSIDE, "101")
    base = await privacy_metrics_text(world.system, world.clock.now())
    open_before = _gauge(base, "fabric_privacy_requests_open")
    received = int((world.clock.now() - 2 * DAY) * 1000)  # e-mailed two days ago
    req = await world.service.open_request(world.owner, api_privacy.OpenRequestRequest(
        kind=api_privacy.REQUEST_ERASE, subject=OUTSIDE, received_at_ms=received))
    assert req.status == api_privacy.REQUEST_OPEN
    assert req.deadline_ms == received + 30 * 86_400_000
    assert req.received_by == "u-owner"
    await world.clock.advance(10 * DAY)
    text = await privacy_metrics_text(world.system, world.clock.now())
    assert _gauge(text, "fabric_privacy_requests_open") == open_before + 1
    assert _gauge(text, "fabric_privacy_request_oldest_open_seconds") >= 12 * DAY
    listed = await world.service.list_requests(world.owner, open_only=True)
    assert [r.request_id for r in listed.requests] == [req.request_id]

    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(
        subject=OUTSIDE, request_id=req.request_id))
    assert answer.request_id == req.request_id
    done = await world.service.get_request(world.owner, req.request_id)
    assert done.status == api_privacy.REQUEST_COMPLETED and done.completed_by == "u-owner"
    assert done.completed_at_ms == int(world.clock.now() * 1000) < done.deadline_ms
    text = await privacy_metrics_text(world.system, world.clock.now())
    assert _gauge(text, "fabric_privacy_requests_open") == open_before
    with pytest.raises(FailedPrecondition):  # answered once only
        await world.service.erase(world.owner, api_privacy.EraseRequest(
            subject=OUTSIDE, request_id=req.request_id))


async def test_received_at_out_of_the_window_is_refused_and_a_request_may_be_withdrawn(
    world: World,
) -> None:
    for when in (world.clock.now() - 31 * DAY, world.clock.now() + 60):
        with pytest.raises(InvalidArgument) as info:
            await world.service.open_request(world.owner, api_privacy.OpenRequestRequest(
                kind=api_privacy.REQUEST_EXPORT, received_at_ms=int(when * 1000)))
        assert info.value.error_id == "invalid-received-at"
    req = await world.service.open_request(world.owner, api_privacy.OpenRequestRequest(
        kind=api_privacy.REQUEST_EXPORT))
    gone = await world.service.withdraw(world.owner, api_privacy.WithdrawRequestRequest(
        request_id=req.request_id, reason="sent by mistake"))
    assert gone.status == api_privacy.REQUEST_WITHDRAWN


async def test_a_restricted_subject_is_reported_until_lifted(world: World) -> None:
    alice = await world.user("Alice", "101")
    assert not await is_restricted(world.system, world.tenant_id, alice, OUTSIDE)
    await world.service.set_restriction(
        world.owner, api_privacy.SetRestrictionRequest(subject=OUTSIDE, restricted=True))
    assert await is_restricted(world.system, world.tenant_id, alice, OUTSIDE)
    assert not await is_restricted(world.system, world.tenant_id, alice)
    other, _ = await world.new_tenant()  # a flag is per tenant
    assert not await is_restricted(world.system, other, OUTSIDE)
    await world.service.set_restriction(
        world.owner, api_privacy.SetRestrictionRequest(subject=alice, restricted=True))
    assert await restricted_or_closed(world.system, world.tenant_id, alice)
    await world.service.set_restriction(
        world.owner, api_privacy.SetRestrictionRequest(subject=alice, restricted=False))
    assert not await is_restricted(world.system, world.tenant_id, alice)
    listed = await world.service.list_restrictions(world.owner)
    assert {(r.subject, r.restricted) for r in listed.restrictions} == {
        (OUTSIDE, True), (alice, False)}
    with pytest.raises(NotFound):  # a user of another tenant is absent here
        await world.service.set_restriction(
            world.owner, api_privacy.SetRestrictionRequest(subject="u-owner-x", restricted=True))


async def test_correction_of_names_contacts_and_labels_is_tracked(world: World) -> None:
    alice = await world.user("Alcie", "101")
    answer = await world.service.correct(world.owner, api_privacy.CorrectRequest(
        user=api_privacy.CorrectUser(user_id=alice, name="Alice", email="a@example.com")))
    assert answer.user.name == "Alice" and answer.user.email == "a@example.com"
    answer = await world.service.correct(world.owner, api_privacy.CorrectRequest(
        extension=api_privacy.CorrectExtension(extension="101", label="Front desk")))
    assert answer.extension.label == "Front desk" and answer.extension.user_id == alice
    with pytest.raises(InvalidArgument) as info:
        await world.service.correct(world.owner, api_privacy.CorrectRequest(
            user=api_privacy.CorrectUser(user_id=alice, email="not-an-address")))
    assert info.value.error_id == "invalid-email"
    users = (await world.admin(list_users=api_tenant.ListUsersRequest())).users
    assert next(u for u in users if u.user_id == alice).email == "a@example.com"
    kinds = [r.kind for r in (await world.service.list_requests(world.owner, False)).requests]
    assert kinds.count(api_privacy.REQUEST_CORRECT) == 3

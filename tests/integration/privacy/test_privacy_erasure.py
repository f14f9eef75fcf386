"""Erasure on both backends: content unreadable at once and its key destroyed after the
backup window, CDRs kept and the answer says so (reason and counts), a user removed or
pseudonymised, one object with its transcript, the request recorded."""

from __future__ import annotations

import pytest
from privacy_world import DAY, World, read_zip, wav

from actors.privacy import policy
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, NotFound
from fabric.vault.content import SMS_BODY, TRANSCRIPT, VOICEMAIL
from fabric.vault.shredding import KeySweeper

OUTSIDE = "+15550100777"


async def test_erasing_a_number_deletes_its_content_and_keeps_cdrs_saying_why(
    world: World,
) -> None:
    await world.user("Alice", "101")
    for _ in range(3):
        await world.cdr(OUTSIDE, "101")
    await world.cdr("101", "+15550100999")
    await world.put(VOICEMAIL, "vm-1", wav(), subjects=OUTSIDE, audio_format="wav")
    await world.put(TRANSCRIPT, "tr-1", b"hi", parent="vm-1")
    await world.put(SMS_BODY, "sms-1", b"text", subjects=OUTSIDE)
    await world.put(SMS_BODY, "sms-other", b"keep me", subjects="+15550100999")

    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(subject=OUTSIDE))

    assert dict(answer.deleted) == {VOICEMAIL: 1, TRANSCRIPT: 1, SMS_BODY: 1}
    cdr = next(k for k in answer.kept if k.data_class == "cdr")
    assert cdr.count == 3 and cdr.retention_days == policy.CDR_DAYS
    assert "7 years" in cdr.reason
    assert answer.keys_destroyed_at_ms == int((world.clock.now() + 30 * DAY) * 1000)
    for data_class, object_id in ((VOICEMAIL, "vm-1"), (TRANSCRIPT, "tr-1"), (SMS_BODY, "sms-1")):
        with pytest.raises(NotFound):  # unreadable at once
            await world.content.open(world.tenant_id, data_class, object_id)
    assert (await world.content.info(world.tenant_id, SMS_BODY, "sms-other")).size == 7
    # the CDRs are all still there, numbers readable
    data, _, _ = await world.export(OUTSIDE)
    assert len(read_zip(data).read("cdrs.jsonl").splitlines()) == 3
    req = await world.service.get_request(world.owner, answer.request_id)
    assert req.status == api_privacy.REQUEST_COMPLETED
    assert "kept 3 CDRs" in req.outcome and req.erasure.kept[0].count == 3


async def test_the_key_of_erased_content_is_destroyed_after_the_backup_window(
    world: World,
) -> None:
    await world.put(VOICEMAIL, "vm-1", wav(), subjects=OUTSIDE)
    row = await world.content.backend.object(world.tenant_id, VOICEMAIL, "vm-1")
    assert row is not None
    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(subject=OUTSIDE))
    assert world.stores.vault is not None
    keys = world.stores.vault.keys
    sweeper = KeySweeper(keys, world.clock)
    await world.clock.advance(30 * DAY - 1)
    await sweeper.sweep_once()  # (the Cassandra keyspace holds other tests' keys too)
    record = await keys.data_key(world.tenant_id, row.key_id)
    assert record is not None and record.wrapped  # a backup could still be decrypted
    await world.clock.advance(1)
    assert await sweeper.sweep_once() >= 1  # day 30: the only wrapped copy is wiped
    record = await keys.data_key(world.tenant_id, row.key_id)
    assert record is None or not record.wrapped
    assert answer.keys_destroyed_at_ms == int(world.clock.now() * 1000)  # = erasure + 30 days


async def test_a_user_with_kept_cdrs_is_pseudonymised_one_without_removed(world: World) -> None:
    alice = await world.user("Alice Able", "101")
    await world.admin(update_user=api_tenant.UpdateUserRequest(
        user_id=alice, email="alice@example.com", phone="+15550100123"))
    await world.cdr("101", OUTSIDE)
    await world.put(VOICEMAIL, "vm-a", wav(), subjects=alice)
    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(subject=alice))
    assert answer.account == "pseudonymised"
    assert answer.deleted[VOICEMAIL] == 1 and answer.kept[0].count == 1
    users = (await world.admin(list_users=api_tenant.ListUsersRequest())).users
    erased = next(u for u in users if u.user_id == alice)
    assert erased.name.startswith("erased-") and not erased.email and not erased.phone
    exts = (await world.admin(list_extensions=api_tenant.ListExtensionsRequest())).extensions
    assert next(e for e in exts if e.extension == "101").label == ""

    carol = await world.user("Carol Clean")
    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(subject=carol))
    assert answer.account == "removed"
    users = (await world.admin(list_users=api_tenant.ListUsersRequest())).users
    assert carol not in {u.user_id for u in users}


async def test_the_only_owner_cannot_be_erased(world: World) -> None:
    with pytest.raises(FailedPrecondition) as info:
        await world.service.erase(world.owner, api_privacy.EraseRequest(subject="u-owner"))
    assert info.value.error_id == "last-owner"


async def test_erasing_one_object_takes_its_transcript(world: World) -> None:
    await world.put(VOICEMAIL, "vm-1", wav(), subjects=OUTSIDE, call_id="c-1")
    await world.put(TRANSCRIPT, "tr-1", b"hi", parent="vm-1")
    await world.put(VOICEMAIL, "vm-2", wav(), subjects=OUTSIDE)
    answer = await world.service.erase(world.owner, api_privacy.EraseRequest(
        object=api_privacy.ObjectRef(data_class=VOICEMAIL, object_id="vm-1")))
    assert dict(answer.deleted) == {VOICEMAIL: 1, TRANSCRIPT: 1}
    assert answer.kept[0].count == 1  # the call's CDR stays
    assert [i.object_id for i in await world.content.list(world.tenant_id, VOICEMAIL)] == ["vm-2"]

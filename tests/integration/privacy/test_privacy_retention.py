"""Retention on both backends, each period to the day on a manual clock, driven by the
PrivacyActor's durable reminders: content after the tenant's period (then its key after
the 30-day backup window), account data 90 days after closure (then the tenant key), CDRs
7 years and never shortened; a tenant may shorten, never lengthen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from privacy_world import DAY, World, wav

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.privacy import policy
from actors.privacy.restrictions import privacy_address
from actors.tenant import tenant_address
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound
from fabric.storage.sqlite_cdr import RETENTION
from fabric.vault.content import RECORDING, SMS_BODY, TRANSCRIPT, VOICEMAIL
from fabric.vault.errors import VaultKeyDestroyed

ROOT = Path(__file__).parents[3]


async def _retention(w: World, **days: int) -> api_privacy.RetentionPolicy:
    return await w.service.set_retention(
        w.owner, api_privacy.SetRetentionRequest(policy=api_privacy.RetentionPolicy(**days))
    )


async def _tick(w: World, seconds: float) -> None:
    await w.clock.advance(seconds)
    await w.system.fire_due_reminders()
    await w.system.idle()


def _around(w: World, seconds: float) -> tuple[datetime, datetime]:
    now = datetime.fromtimestamp(w.clock.now(), UTC)
    return now - timedelta(seconds=seconds), now + timedelta(days=1)


async def _ids(w: World, data_class: str) -> list[str]:
    return [i.object_id for i in await w.content.list(w.tenant_id, data_class)]


@pytest.mark.parametrize(("data_class", "field"), [
    (VOICEMAIL, "voicemail_days"), (RECORDING, "recording_days"), (SMS_BODY, "sms_days"),
])
async def test_content_is_deleted_on_the_day_its_period_ends(
    world: World, data_class: str, field: str
) -> None:
    await world.put(data_class, "obj-old", wav())
    await world.put(TRANSCRIPT, "tr-old", b"words", parent="obj-old")
    others = sorted({VOICEMAIL, RECORDING, SMS_BODY} - {data_class})
    for cls in others:  # periods are per class: these have none and stay
        await world.put(cls, "keep", wav())
    await _tick(world, 2 * DAY)
    await world.put(data_class, "obj-new", wav())
    shown = await _retention(world, **{field: 10})
    assert getattr(shown, field) == 10
    await _tick(world, 0)
    assert await _ids(world, data_class) == ["obj-new", "obj-old"]
    await _tick(world, 8 * DAY - 1)  # the old one is 10 days old less a second
    assert await _ids(world, data_class) == ["obj-new", "obj-old"]
    await _tick(world, 1)  # 10 days: gone, with its transcript
    assert await _ids(world, data_class) == ["obj-new"]
    assert await _ids(world, TRANSCRIPT) == []
    await _tick(world, 2 * DAY - 1)
    assert await _ids(world, data_class) == ["obj-new"]
    await _tick(world, 1)
    assert await _ids(world, data_class) == []
    for cls in others:
        assert await _ids(world, cls) == ["keep"]


async def test_content_without_a_period_is_kept_until_deleted(world: World) -> None:
    await world.put(VOICEMAIL, "vm-1", wav())
    await _retention(world, recording_days=1)
    await _tick(world, 400 * DAY)
    assert await _ids(world, VOICEMAIL) == ["vm-1"]


async def test_account_data_goes_90_days_after_closure_and_export_works_until_then(
    world: World,
) -> None:
    await world.user("Alice", "101")
    await world.cdr("101", "+15550100777")
    await world.put(VOICEMAIL, "vm-1", wav(), subjects="+15550100777")
    tenant = world.system.ref(tenant_address(world.tenant_id))
    await tenant.ask(msg_tenant.SetTenantStatus(status=api_carrier.TENANT_STATUS_CLOSED))
    operator = msg_common.Principal(tenant_id=world.tenant_id, user_id="operator",
                                    role=api_common.ROLE_OPERATOR)
    await _tick(world, 90 * DAY - 1)
    data, summary, _ = await world.export(who=operator)  # a closed tenant still exports
    assert summary.counts["cdr"] == 1 and summary.counts[VOICEMAIL] == 1
    assert (await tenant.ask(msg_tenant.GetTenant())).status == api_carrier.TENANT_STATUS_CLOSED
    await _tick(world, 1)  # day 90: account data deleted, tenant key destroyed
    with pytest.raises(NotFound):
        await tenant.ask(msg_tenant.GetTenant())
    status = await world.system.ref(privacy_address(world.tenant_id)).ask(
        msg_privacy.GetPrivacyStatus())
    assert isinstance(status, msg_privacy.PrivacyStatus) and status.account_purged
    assert await world.content.backend.list_objects(world.tenant_id, VOICEMAIL) == []
    vault = world.stores.vault
    assert vault is not None
    with pytest.raises(VaultKeyDestroyed):  # nothing sealed under the tenant key opens any more
        await vault.seal(world.tenant_id, "voicemail-meta", "x", b"x")
    with pytest.raises(NotFound):
        await world.export(who=operator)
    # the CDR stays 7 years with its numbers readable and searchable (regulatory)
    since, until = _around(world, 120 * DAY)
    [kept] = (await world.stores.cdr.query(world.tenant_id, since, until,
                                           number="+15550100777")).records
    assert kept.to_number == "+15550100777"
    await _tick(world, (policy.CDR_DAYS - 90) * DAY - 1)
    assert (await world.stores.cdr.query(world.tenant_id, since, until)).records
    await _tick(world, 1)  # 7 years after the closure: the keys kept for the records go too
    with pytest.raises(VaultKeyDestroyed):
        await vault.record_sealer(world.tenant_id, "cdr")
    with pytest.raises(VaultKeyDestroyed):
        await vault.indexer(world.tenant_id)


async def test_a_tenant_may_shorten_the_account_period(world: World) -> None:
    await _retention(world, account_after_closure_days=7)
    tenant = world.system.ref(tenant_address(world.tenant_id))
    await tenant.ask(msg_tenant.SetTenantStatus(status=api_carrier.TENANT_STATUS_CLOSED))
    await _tick(world, 7 * DAY - 1)
    await tenant.ask(msg_tenant.GetTenant())
    await _tick(world, 1)
    with pytest.raises(NotFound):
        await tenant.ask(msg_tenant.GetTenant())


@pytest.mark.parametrize(("days", "error_id"), [
    ({"account_after_closure_days": 91}, "retention-longer-than-policy"),
    ({"voicemail_days": policy.MAX_CONTENT_DAYS + 1}, "retention-longer-than-policy"),
    ({"cdr_days": 365}, "retention-regulatory"),
    ({"cdr_days": 4000}, "retention-regulatory"),
    ({"backup_days": 60}, "retention-regulatory"),
])
async def test_a_tenant_may_never_lengthen_nor_touch_regulatory_periods(
    world: World, days: dict[str, int], error_id: str
) -> None:
    with pytest.raises((InvalidArgument, FailedPrecondition)) as info:
        await _retention(world, **days)
    assert info.value.error_id == error_id
    shown = await world.service.get_retention(world.owner)
    assert shown.account_after_closure_days == 90 and shown.cdr_days == 2557


async def test_cdrs_are_kept_7_years_and_neither_erasure_nor_retention_shortens_it(
    world: World,
) -> None:
    assert policy.CDR_DAYS == RETENTION.days == 2557
    ttl = f"default_time_to_live = {policy.CDR_DAYS * 86400}"
    assert ttl in (ROOT / "fabric/storage/migrations/001_cdr.cql").read_text()
    await world.user("Alice", "101")
    await world.cdr("101", "+15550100777")
    await _retention(world, voicemail_days=1, recording_days=1, sms_days=1,
                     account_after_closure_days=0)
    await world.service.erase(world.owner, api_privacy.EraseRequest(subject="+15550100777"))
    await _tick(world, 30 * DAY)
    _, summary, _ = await world.export()
    assert summary.counts["cdr"] == 1

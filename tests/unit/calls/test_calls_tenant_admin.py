"""TenantActor administration and the number directory: every refusal names what to fix,
and a refused request changes nothing."""

from __future__ import annotations

import pytest
from calls_harness import Fabric

from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY
from actors.tenant import tenant_address
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.edge.credentials import parse_api_key
from fabric.errors import (
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)


@pytest.mark.parametrize(
    ("ext", "error_id"),
    [
        (dict(extension="1", user_id="u-owner"), "invalid-extension"),
        (dict(extension="101", user_id="u-nobody"), "unknown-user"),
        (dict(extension="101", user_id="u-owner", ring_timeout_s=3), "invalid-ring-timeout"),
        (
            dict(
                extension="101",
                user_id="u-owner",
                forwarding=api_tenant.ForwardingRule(
                    mode=api_tenant.FORWARD_ALWAYS, to_extension="101"
                ),
            ),
            "invalid-forwarding",
        ),
        (
            dict(
                extension="101",
                user_id="u-owner",
                forwarding=api_tenant.ForwardingRule(to_extension="102"),
            ),
            "invalid-forwarding",
        ),
    ],
)
async def test_bad_extensions_are_refused_with_a_fix(
    fabric: Fabric, ext: dict, error_id: str
) -> None:
    t = await fabric.tenant()
    before = await t.admin(get_config=api_tenant.TenantConfigRequest())
    with pytest.raises(InvalidArgument) as exc:
        await t.admin(
            put_extension=api_tenant.PutExtensionRequest(extension=api_tenant.Extension(**ext))
        )
    assert exc.value.error_id == error_id and "must" in exc.value.message
    assert await t.admin(get_config=api_tenant.TenantConfigRequest()) == before


async def test_objects_in_use_cannot_be_deleted(fabric: Fabric) -> None:
    t = await fabric.tenant()
    u = await t.user("U")
    await t.extension("101", u)
    await t.admin(
        put_ring_group=api_tenant.PutRingGroupRequest(
            group=api_tenant.RingGroup(group_id="g", extensions=["101"])
        )
    )
    with pytest.raises(FailedPrecondition) as exc:
        await t.admin(delete_extension=api_tenant.ExtensionRef(extension="101"))
    assert exc.value.error_id == "extension-in-use"
    with pytest.raises(FailedPrecondition):
        await t.admin(delete_user=api_tenant.UserRef(user_id=u.user_id))
    with pytest.raises(FailedPrecondition) as exc:
        await t.admin(delete_user=api_tenant.UserRef(user_id="u-owner"))
    assert exc.value.error_id == "last-owner"


async def test_roles_inside_the_tenant(fabric: Fabric) -> None:
    t = await fabric.tenant()
    admin = await t.user("Admin", api_common.ROLE_ADMIN)
    ref = fabric.system.ref(tenant_address(t.tenant_id))
    with pytest.raises(PermissionDenied):
        await ref.ask(
            msg_tenant.AdminOp(
                principal=admin,
                create_user=api_tenant.CreateUserRequest(name="Boss", role=api_common.ROLE_OWNER),
            )
        )
    with pytest.raises(PermissionDenied):
        await ref.ask(
            msg_tenant.AdminOp(
                principal=admin, create_api_key=api_tenant.CreateApiKeyRequest(user_id="u-owner")
            )
        )
    member = await t.user("M")
    other = await t.user("O")
    await t.extension("201", other)
    with pytest.raises(PermissionDenied):  # a member may not register someone else's extension
        await ref.ask(
            msg_tenant.RegisterEndpoint(principal=member, extension="201", registration_id="r")
        )


async def test_business_hours_are_checked(fabric: Fabric) -> None:
    t = await fabric.tenant()
    for hours, error_id in (
        (api_tenant.BusinessHours(timezone="Mars/Olympus"), "invalid-timezone"),
        (
            api_tenant.BusinessHours(open=[api_tenant.OpenInterval(weekday=7, end_minute=10)]),
            "invalid-hours",
        ),
        (
            api_tenant.BusinessHours(
                open=[api_tenant.OpenInterval(start_minute=600, end_minute=500)]
            ),
            "invalid-hours",
        ),
        (api_tenant.BusinessHours(enabled=True), "missing-target"),
        (api_tenant.BusinessHours(enabled=True, after_hours_extension="999"), "unknown-extension"),
    ):
        with pytest.raises(InvalidArgument) as exc:
            await t.admin(set_business_hours=api_tenant.SetBusinessHoursRequest(hours=hours))
        assert exc.value.error_id == error_id


async def test_api_keys_verify_until_revoked(fabric: Fabric) -> None:
    t = await fabric.tenant()
    u = await t.user("U")
    made = await t.admin(create_api_key=api_tenant.CreateApiKeyRequest(user_id=u.user_id))
    assert isinstance(made, api_tenant.CreateApiKeyResponse)
    parts = parse_api_key(made.secret)
    ref = fabric.system.ref(tenant_address(t.tenant_id))
    verdict = await ref.ask(
        msg_tenant.VerifyKey(key_id=parts.key_id, secret_hash=parts.secret_hash)
    )
    assert isinstance(verdict, msg_tenant.KeyVerdict) and verdict.user_id == u.user_id
    assert verdict.role == api_common.ROLE_MEMBER
    with pytest.raises(Unauthenticated):
        await ref.ask(msg_tenant.VerifyKey(key_id=parts.key_id, secret_hash=b"x" * 32))
    listed = await t.admin(list_api_keys=api_tenant.ListApiKeysRequest())
    assert made.secret not in str(listed)
    await t.admin(revoke_api_key=api_tenant.ApiKeyRef(key_id=parts.key_id))
    with pytest.raises(Unauthenticated):
        await ref.ask(msg_tenant.VerifyKey(key_id=parts.key_id, secret_hash=parts.secret_hash))


async def test_number_directory(fabric: Fabric) -> None:
    d = fabric.system.ref(DIRECTORY)
    got = await d.ask(msg_numbers.AllocateNumbers(tenant_id="t-a", count=2))
    assert isinstance(got, msg_numbers.AllocatedNumbers) and len(got.numbers) == 2
    with pytest.raises(FailedPrecondition):  # taken
        await d.ask(msg_numbers.AllocateNumbers(tenant_id="t-b", numbers=[got.numbers[0]]))
    with pytest.raises(NotFound):  # not in the carrier's pool
        await d.ask(msg_numbers.AllocateNumbers(tenant_id="t-b", numbers=["+4930123456789"]))
    for bad in (
        msg_numbers.AllocateNumbers(tenant_id="t-b", count=101),
        msg_numbers.AllocateNumbers(tenant_id="t-b", numbers=["555"]),
    ):
        with pytest.raises(InvalidArgument):
            await d.ask(bad)
    with pytest.raises(NotFound):  # not yours to release
        await d.ask(msg_numbers.ReleaseNumber(tenant_id="t-b", number=got.numbers[0]))
    owner = await d.ask(msg_numbers.LookupNumber(number=got.numbers[0]))
    assert isinstance(owner, msg_numbers.NumberOwner) and owner.tenant_id == "t-a"
    released = await d.ask(msg_numbers.ReleaseTenantNumbers(tenant_id="t-a"))
    assert isinstance(released, msg_numbers.AllocatedNumbers) and len(released.numbers) == 2
    again = await d.ask(msg_numbers.AllocateNumbers(tenant_id="t-b", numbers=[got.numbers[0]]))
    assert isinstance(again, msg_numbers.AllocatedNumbers)


async def test_unknown_tenant_is_not_found(fabric: Fabric) -> None:
    with pytest.raises(FabricError) as exc:
        await fabric.system.ref(tenant_address("t-missing")).ask(msg_tenant.GetTenant())
    assert exc.value.error_id == "tenant-not-found"

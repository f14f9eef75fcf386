"""The role table (actors/api/roles.py) against the policy, method by method and role by role.

The policy, written out here on its own: the carrier's operator runs ``CarrierAdmin`` and
nothing else; a tenant's owner and admins run ``TenantAdmin``, ``Records`` and every
``Calls`` method; members run ``Calls`` except ``ListActiveCalls``, and ``Records`` (their own
calls' CDRs only, checked in the servicer). Every RPC of the API is
in the table (a missing one would be closed to everyone) and the table names no other.
Carrier staff (issue 14): a carrier-admin does what the operator token does; support and
billing read tenant metadata (GetTenant, ListTenants, GetCompliance) and nothing else;
owners and admins read their own audit log and compliance record and set HIPAA mode.
"""

from __future__ import annotations

import pytest

from actors.api.roles import ROLES
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import recordings_pb2 as api_recordings
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import voicemail_pb2 as api_voicemail
from fabric.edge.auth import Authorizer, Principal, Role
from fabric.errors import PermissionDenied

RPCS = sorted(
    f"/{service.full_name}/{method.name}"
    for module in (api_carrier, api_tenant, api_calls, api_records, api_audit, api_recordings,
                   api_voicemail, api_messaging, api_privacy)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
)


def allowed(rpc: str, role: Role) -> bool:
    """The policy (module docstring)."""
    service, method = rpc.split("/")[1].rpartition(".")[2], rpc.split("/")[2]
    carrier = role in (Role.OPERATOR, Role.CARRIER_ADMIN)
    staff = carrier or role in (Role.SUPPORT, Role.BILLING)
    admins = role in (Role.OWNER, Role.ADMIN)
    if service == "CarrierAdmin":
        return staff if method in ("GetTenant", "ListTenants") else carrier
    if service == "Operators":
        return carrier
    if service == "Audit":
        return admins or carrier
    if service == "Billing":
        return carrier or role is Role.BILLING
    if service == "Compliance":
        return {"RecordDocument": carrier, "GetCompliance": admins or staff,
                "SetHipaaMode": admins}[method]
    if service == "TenantAdmin":
        return role in (Role.OWNER, Role.ADMIN)
    if service == "Records":  # a member reads their own calls' CDRs (checked in the servicer)
        return role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    if service == "Recordings":  # members: their calls (checked in the call actor, servicer)
        if method in ("DeleteRecording", "GetRecordingSettings", "SetRecordingSettings"):
            return role in (Role.OWNER, Role.ADMIN)
        return role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    if service == "Messaging":  # members: numbers routed to their extensions (the servicer)
        if method in ("GetSmsSettings", "SetSmsSettings"):
            return role in (Role.OWNER, Role.ADMIN)
        return role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    if service == "Privacy":  # carrier: a closed tenant's export, requests, retention
        if method in ("Export", "ListRequests", "GetRetention"):
            return admins or carrier
        return admins
    if service == "Voicemail":  # members: their own extensions' mailboxes (the servicer)
        return role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    if service == "Calls":
        if method == "ListActiveCalls":
            return role in (Role.OWNER, Role.ADMIN)
        return role in (Role.OWNER, Role.ADMIN, Role.MEMBER)
    raise AssertionError(f"no policy for {rpc}")


def test_every_rpc_is_in_the_table_and_nothing_else() -> None:
    assert len(RPCS) > 30
    assert sorted(ROLES) == RPCS


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("rpc", RPCS)
def test_the_edge_lets_a_role_call_a_method_only_if_the_policy_says_so(
    rpc: str, role: Role
) -> None:
    auth = Authorizer("fo_unused", _never_called, ROLES)
    who = Principal(role, "" if role is Role.OPERATOR else "t-1", "u-1")
    if allowed(rpc, role):
        auth.check(rpc, who)
    else:
        with pytest.raises(PermissionDenied) as info:
            auth.check(rpc, who)
        assert info.value.error_id == "role-not-allowed"


async def _never_called(parts: object) -> Principal:
    raise AssertionError("check() verifies no key")

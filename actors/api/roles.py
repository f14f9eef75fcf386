"""The role table: which roles may call each RPC. Checked in one place (the edge).

A method missing from this table is refused for everyone, so a new RPC stays closed until
it is listed here (``tests/unit/calls/test_calls_roles.py`` checks every RPC is listed).
Finer checks that depend on the object (a member may only use their own extensions; only
an owner may create owners) happen in the actors, which know the objects.
"""

from __future__ import annotations

from fabric.edge.auth import Role

OPERATOR = frozenset({Role.OPERATOR})
ADMINS = frozenset({Role.OWNER, Role.ADMIN})
EVERYONE = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})

_CARRIER = (
    "CreateTenant",
    "GetTenant",
    "SuspendTenant",
    "ResumeTenant",
    "CloseTenant",
    "SetPlan",
    "AllocateNumbers",
    "ReleaseNumber",
    "ListTenants",
)
_ADMIN = (
    "GetConfig",
    "CreateUser",
    "DeleteUser",
    "ListUsers",
    "PutExtension",
    "DeleteExtension",
    "ListExtensions",
    "PutRingGroup",
    "DeleteRingGroup",
    "ListRingGroups",
    "RouteNumber",
    "ListNumbers",
    "SetBusinessHours",
    "CreateApiKey",
    "RevokeApiKey",
    "ListApiKeys",
)
_CALLS = ("Register", "Dial", "Answer", "Reject", "Hangup", "Hold", "Resume", "Transfer", "GetCall")

ROLES: dict[str, frozenset[Role]] = {
    **{f"/fabric.api.v1.CarrierAdmin/{m}": OPERATOR for m in _CARRIER},
    **{f"/fabric.api.v1.TenantAdmin/{m}": ADMINS for m in _ADMIN},
    **{f"/fabric.api.v1.Calls/{m}": EVERYONE for m in _CALLS},
    "/fabric.api.v1.Calls/ListActiveCalls": ADMINS,
    # a member reads only the CDRs of their own calls (actors/api/records.py)
    "/fabric.api.v1.Records/QueryCdrs": EVERYONE,
    "/fabric.api.v1.Records/GetCdr": EVERYONE,
}

"""The role table: which roles may call each RPC. Checked in one place (the edge).

A method missing from this table is refused for everyone, so a new RPC stays closed until
it is listed here (``tests/unit/calls/test_calls_roles.py`` checks every RPC is listed).
Finer checks that depend on the object (a member may only use their own extensions; only
an owner may create owners) happen in the actors, which know the objects.
"""

from __future__ import annotations

from fabric.edge.auth import Role

OPERATOR = frozenset({Role.OPERATOR, Role.CARRIER_ADMIN})  # bootstrap token or carrier-admin
STAFF = frozenset({Role.OPERATOR, Role.CARRIER_ADMIN, Role.SUPPORT, Role.BILLING})
"""Carrier staff: support and billing see tenant metadata only (never content; see
``tests/unit/accountability/test_accountability_roles.py``)."""
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
    "UpdateUser",
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
_VOICEMAIL = (
    "ListMessages",
    "GetMessage",
    "StreamAudio",
    "MarkHeard",
    "DeleteMessage",
    "UploadGreeting",
    "ResetGreeting",
    "GetMailboxSettings",
    "SetMailboxSettings",
)
_PRIVACY = (  # owners and admins
    "OpenRequest",
    "WithdrawRequest",
    "GetRequest",
    "Erase",
    "Correct",
    "SetRestriction",
    "ListRestrictions",
    "SetRetention",
)
_PRIVACY_CLOSED = ("Export", "ListRequests", "GetRetention")  # + the operator: a closed tenant
_RECORDINGS = (
    "StartRecording",
    "StopRecording",
    "ListRecordings",
    "GetRecording",
    "StreamAudio",
)
_RECORDINGS_ADMIN = ("DeleteRecording", "GetRecordingSettings", "SetRecordingSettings")
_MESSAGING = (
    "SendMessage",
    "ListConversations",
    "GetHistory",
    "MarkRead",
    "DeleteMessage",
    "DeleteConversation",
)

ROLES: dict[str, frozenset[Role]] = {
    **{f"/fabric.api.v1.CarrierAdmin/{m}": OPERATOR for m in _CARRIER},
    **{f"/fabric.api.v1.TenantAdmin/{m}": ADMINS for m in _ADMIN},
    **{f"/fabric.api.v1.Calls/{m}": EVERYONE for m in _CALLS},
    "/fabric.api.v1.Calls/ListActiveCalls": ADMINS,
    # a member reads only the CDRs of their own calls (actors/api/records.py)
    "/fabric.api.v1.Records/QueryCdrs": EVERYONE,
    "/fabric.api.v1.Records/GetCdr": EVERYONE,
    # privacy (issue 13): the operator only for a closed tenant (actors/privacy/service.py)
    **{f"/fabric.api.v1.Privacy/{m}": ADMINS for m in _PRIVACY},
    **{f"/fabric.api.v1.Privacy/{m}": ADMINS | OPERATOR for m in _PRIVACY_CLOSED},
    # voicemail (issue 10): a member reaches only their own extensions' mailboxes
    # (actors/api/voicemail.py); the quota is an admin's (the mailbox checks it)
    **{f"/fabric.api.v1.Voicemail/{m}": EVERYONE for m in _VOICEMAIL},
    # accountability (issue 14): carrier staff metadata reads, operators, audit, compliance
    "/fabric.api.v1.CarrierAdmin/GetTenant": STAFF,
    "/fabric.api.v1.CarrierAdmin/ListTenants": STAFF,
    "/fabric.api.v1.Operators/CreateOperator": OPERATOR,
    "/fabric.api.v1.Operators/ListOperators": OPERATOR,
    "/fabric.api.v1.Operators/RevokeOperator": OPERATOR,
    "/fabric.api.v1.Audit/QueryAuditLog": ADMINS | OPERATOR,
    "/fabric.api.v1.Audit/VerifyAuditLog": ADMINS | OPERATOR,
    "/fabric.api.v1.Compliance/RecordDocument": OPERATOR,
    "/fabric.api.v1.Compliance/GetCompliance": ADMINS | STAFF,
    "/fabric.api.v1.Compliance/SetHipaaMode": ADMINS,
    "/fabric.api.v1.Billing/QueryUsage": OPERATOR | {Role.BILLING},  # CDR metadata, no numbers
    # SMS (issue 12): members reach the numbers routed to their extensions (actors/api/messaging.py)
    **{f"/fabric.api.v1.Messaging/{m}": EVERYONE for m in _MESSAGING},
    "/fabric.api.v1.Messaging/GetSmsSettings": ADMINS,
    "/fabric.api.v1.Messaging/SetSmsSettings": ADMINS,
    # call recording (issue 11): the call actor checks a start/stop against the extensions'
    # policy; a member reaches only their own calls' recordings (actors/api/recordings.py)
    **{f"/fabric.api.v1.Recordings/{m}": EVERYONE for m in _RECORDINGS},
    **{f"/fabric.api.v1.Recordings/{m}": ADMINS for m in _RECORDINGS_ADMIN},
}


def bootstrap_only(roles: dict[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
    """The table with the operator token (``Role.OPERATOR``) kept only on the Operators
    service (``api.operator_token_bootstrap_only``): it creates named operators, nothing else."""
    return {method: allowed if "/fabric.api.v1.Operators/" in method
            else allowed - {Role.OPERATOR} for method, allowed in roles.items()}

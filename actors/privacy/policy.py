"""The privacy policy's numbers, and the checks of a tenant's own retention periods.

The policy (the contract with tenants) promises: an answer to every request within 30 days;
CDRs and message records kept 7 years (regulatory); voicemail and recordings kept until
deleted, then 30 days in backups; account data kept while the account is active plus 90
days after closure. A tenant may shorten the periods it may set (voicemail, recordings, SMS
bodies, account data after closure), never lengthen them; the regulatory ones (CDRs, the
backup window) are fixed. Every period is counted in whole days of 86,400 s from the
record's own time (a voicemail's creation, a CDR's start, the tenant's closure).
"""

from __future__ import annotations

from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.errors import FailedPrecondition, InvalidArgument

POLICY_VERSION = "2026-11-30"
"""The version (date) of the privacy policy these rules implement; exports carry it."""

DAY_S = 86_400
DAY_MS = DAY_S * 1000
RESPONSE_DAYS = 30
"""A request is answered within this many days of its receipt (the deadline)."""
CDR_DAYS = 2557
"""CDRs and message records: 7 years (the Cassandra TTL and the embedded store's purge)."""
BACKUP_DAYS = 30
"""Deleted content stays this long in backups; then its key is destroyed (vault window)."""
ACCOUNT_AFTER_CLOSURE_DAYS = 90
"""Account data after the tenant's closure; then deleted and the tenant key destroyed."""
MAX_CONTENT_DAYS = 36_500
"""The largest content period a tenant may set (the policy's own is "until deleted")."""

CDR_REASON = (
    "regulatory retention: call detail records are kept 7 years (2557 days) after each call, "
    "even after an erasure request (privacy policy, 'How long we keep it')"
)
MDR_REASON = (
    "regulatory retention: message detail records are kept 7 years (2557 days) after each "
    "message, even after an erasure request (privacy policy, 'How long we keep it')"
)


def effective(own: api_privacy.RetentionPolicy) -> api_privacy.RetentionPolicy:
    """The tenant's periods as shown: its own settings plus the fixed ones."""
    out = api_privacy.RetentionPolicy()
    out.CopyFrom(own)
    out.cdr_days = CDR_DAYS
    out.backup_days = BACKUP_DAYS
    if not out.HasField("account_after_closure_days"):
        out.account_after_closure_days = ACCOUNT_AFTER_CLOSURE_DAYS
    return out


def changed(
    own: api_privacy.RetentionPolicy, change: api_privacy.RetentionPolicy
) -> api_privacy.RetentionPolicy:
    """``own`` with the fields set in ``change`` applied; refuses a longer or fixed period.

    Content periods (voicemail, recordings, SMS): 0 = until deleted (the policy's), else
    1-36500 days. Account data after closure: 0-90 days. CDR and backup days: only their
    fixed values (or 0, meaning unchanged).
    """
    for name, fixed in (("cdr_days", CDR_DAYS), ("backup_days", BACKUP_DAYS)):
        value = getattr(change, name)
        if value not in (0, fixed):
            raise FailedPrecondition(
                f"policy.{name} is fixed at {fixed} days (regulatory retention and the backup "
                "window); leave it unset",
                error_id="retention-regulatory",
                details={"field": f"policy.{name}"},
            )
    out = api_privacy.RetentionPolicy()
    out.CopyFrom(own)
    for name in ("voicemail_days", "recording_days", "sms_days"):
        if change.HasField(name):  # type: ignore[arg-type]
            value = getattr(change, name)
            if value > MAX_CONTENT_DAYS:
                raise InvalidArgument(
                    f"policy.{name} must be 0 (until deleted) or 1-{MAX_CONTENT_DAYS} days",
                    error_id="retention-longer-than-policy",
                    details={"field": f"policy.{name}", "max": str(MAX_CONTENT_DAYS)},
                )
            if value == 0:
                out.ClearField(name)  # type: ignore[arg-type]
            else:
                setattr(out, name, value)
    if change.HasField("account_after_closure_days"):
        value = change.account_after_closure_days
        if value > ACCOUNT_AFTER_CLOSURE_DAYS:
            raise InvalidArgument(
                "policy.account_after_closure_days may shorten the policy's "
                f"{ACCOUNT_AFTER_CLOSURE_DAYS} days, never lengthen them: 0-"
                f"{ACCOUNT_AFTER_CLOSURE_DAYS}",
                error_id="retention-longer-than-policy",
                details={
                    "field": "policy.account_after_closure_days",
                    "max": str(ACCOUNT_AFTER_CLOSURE_DAYS),
                },
            )
        out.account_after_closure_days = value
    return out


def account_purge_at_ms(closed_at_ms: int, own: api_privacy.RetentionPolicy) -> int:
    """When a closed tenant's account data is deleted and its key destroyed (unix ms)."""
    days = effective(own).account_after_closure_days
    return closed_at_ms + days * DAY_MS


def records_purge_at_ms(closed_at_ms: int) -> int:
    """When the keys kept for a closed tenant's CDRs and message records are destroyed: the
    records' 7 years after the closure (the last record's TTL has run out)."""
    return closed_at_ms + CDR_DAYS * DAY_MS


def deadline_ms(received_at_ms: int) -> int:
    """The answer deadline of a request received at ``received_at_ms``."""
    return received_at_ms + RESPONSE_DAYS * DAY_MS

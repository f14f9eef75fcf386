"""The HIPAA gate: what a tenant may turn on without a Business Associate Agreement.

The policy: PHI is handled only on the Pro plan, and only after a BAA is signed. So:

- turning HIPAA mode on needs the Pro plan *and* a BAA on file
  (``FAILED_PRECONDITION hipaa-needs-pro`` / ``baa-required``);
- turning on a PHI-bearing feature (:class:`PhiFeature`: call recording, voicemail
  transcription) on a Pro tenant without a BAA is ``FAILED_PRECONDITION baa-required``;
  a Standard tenant is not a HIPAA customer and is not gated.

Other services call :func:`require_baa_for_feature` (async, reads the record) or the pure
:func:`check_phi_feature` when they already know the plan and whether a BAA is on file.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from actors.compliance.records import ComplianceRecords, TenantCompliance
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.errors import FabricError, FailedPrecondition

BAA_REQUIRED = "baa-required"
HIPAA_NEEDS_PRO = "hipaa-needs-pro"
HIPAA_RETENTION = "hipaa-retention-minimum"
HIPAA_MIN_RETENTION_DAYS = 6 * 365 + 2
"""In HIPAA mode, content is not deleted automatically before six years (HIPAA's
documentation period, 45 CFR 164.316(b)(2)); a person may still delete an item."""
CONTENT_PERIODS = ("voicemail_days", "recording_days", "sms_days")


class PhiFeature(StrEnum):
    """Features that carry protected health information."""

    RECORDING = "recording"
    VOICEMAIL_TRANSCRIPTION = "voicemail-transcription"


def check_phi_feature(plan: int, baa_on_file: bool, feature: PhiFeature) -> None:
    """``FAILED_PRECONDITION baa-required`` when a Pro tenant (``plan`` is an
    ``api_carrier.Plan`` value) without a BAA turns ``feature`` on; otherwise nothing."""
    if plan == api_carrier.PLAN_PRO and not baa_on_file:
        raise FailedPrecondition(
            f"{feature.value} can carry health information: on the Pro plan it needs a "
            "signed Business Associate Agreement on file; ask the carrier to record the BAA "
            "(fabric compliance document add <tenant> --kind baa ...)",
            error_id=BAA_REQUIRED,
            details={"feature": feature.value},
        )


async def require_baa_for_feature(
    records: ComplianceRecords, tenant_id: str, plan: int, feature: PhiFeature
) -> None:
    """:func:`check_phi_feature` with the BAA status read from the tenant's record."""
    if plan != api_carrier.PLAN_PRO:
        return
    record = await records.get(tenant_id)
    check_phi_feature(plan, record.baa_on_file, feature)


async def gate_feature_in_actor(ctx: Any, tenant_id: str, plan: int, feature: PhiFeature) -> None:
    """:func:`require_baa_for_feature` from inside an actor (``ctx`` = its ActorContext),
    reading the host's :class:`ComplianceRecords` service. A host without that service
    cannot know whether a BAA is on file, so a Pro tenant is refused (fail closed)."""
    if plan != api_carrier.PLAN_PRO:
        return
    try:
        records: ComplianceRecords = ctx.service(ComplianceRecords)
    except FabricError:
        check_phi_feature(plan, False, feature)
        return
    await require_baa_for_feature(records, tenant_id, plan, feature)


def check_retention(record: TenantCompliance, periods: dict[str, int]) -> None:
    """In HIPAA mode, ``FAILED_PRECONDITION hipaa-retention-minimum`` for an automatic
    deletion period (``voicemail_days``, ``recording_days``, ``sms_days``; 0 = never) under
    :data:`HIPAA_MIN_RETENTION_DAYS`."""
    if not record.hipaa_mode:
        return
    for name in CONTENT_PERIODS:
        days = periods.get(name, 0)
        if 0 < days < HIPAA_MIN_RETENTION_DAYS:
            raise FailedPrecondition(
                f"{name} must be at least {HIPAA_MIN_RETENTION_DAYS} days (or unset) while "
                "HIPAA mode is on", error_id=HIPAA_RETENTION,
                details={"field": name, "minimum": HIPAA_MIN_RETENTION_DAYS})


async def require_retention_minimum(
    records: ComplianceRecords, tenant_id: str, periods: dict[str, int]
) -> None:
    """:func:`check_retention` with the tenant's record."""
    check_retention(await records.get(tenant_id), periods)


def check_hipaa_mode(plan: int, record: TenantCompliance) -> None:
    """Refuse turning HIPAA mode on unless the tenant is on Pro with a BAA on file."""
    if plan != api_carrier.PLAN_PRO:
        raise FailedPrecondition(
            "HIPAA mode is part of the Pro plan; move the tenant to Pro first "
            "(fabric tenant set <tenant> --plan pro)", error_id=HIPAA_NEEDS_PRO)
    if not record.baa_on_file:
        raise FailedPrecondition(
            "HIPAA mode needs a signed Business Associate Agreement on file; the carrier "
            "records it with: fabric compliance document add <tenant> --kind baa ...",
            error_id=BAA_REQUIRED)

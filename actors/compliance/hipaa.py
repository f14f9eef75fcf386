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

from actors.compliance.records import ComplianceRecords, TenantCompliance
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.errors import FailedPrecondition

BAA_REQUIRED = "baa-required"
HIPAA_NEEDS_PRO = "hipaa-needs-pro"


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

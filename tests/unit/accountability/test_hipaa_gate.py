"""The HIPAA gate matrix: plan x BAA on file x PHI feature, turning HIPAA mode on, and the
retention minimum in HIPAA mode."""

from __future__ import annotations

import asyncio

import pytest

from actors.compliance.hipaa import (
    BAA_REQUIRED,
    HIPAA_MIN_RETENTION_DAYS,
    HIPAA_NEEDS_PRO,
    PhiFeature,
    check_hipaa_mode,
    check_retention,
    require_baa_for_feature,
)
from actors.compliance.records import (
    ComplianceRecords,
    Document,
    DocumentKind,
    TenantCompliance,
)
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.storage.memory import MemoryStateStore

BAA = Document(DocumentKind.BAA, "Dr. Signer", "2026-11-01", "contracts/baa-0042.pdf", "op-1")
PLANS = {"standard": api_carrier.PLAN_STANDARD, "pro": api_carrier.PLAN_PRO}


@pytest.mark.parametrize("feature", list(PhiFeature))
@pytest.mark.parametrize("baa", [False, True])
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_phi_feature_gate(plan: str, baa: bool, feature: PhiFeature) -> None:
    records = ComplianceRecords(MemoryStateStore())

    async def run() -> None:
        if baa:
            await records.record_document("t1", BAA)
        await require_baa_for_feature(records, "t1", PLANS[plan], feature)

    if plan == "pro" and not baa:
        with pytest.raises(FailedPrecondition) as refused:
            asyncio.run(run())
        assert refused.value.error_id == BAA_REQUIRED
        assert refused.value.details["feature"] == feature.value
    else:
        asyncio.run(run())


@pytest.mark.parametrize("baa", [False, True])
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_hipaa_mode_needs_pro_and_a_baa(plan: str, baa: bool) -> None:
    records = ComplianceRecords(MemoryStateStore())

    async def run() -> None:
        if baa:
            await records.record_document("t1", BAA)
        check_hipaa_mode(PLANS[plan], await records.get("t1"))

    if plan == "pro" and baa:
        asyncio.run(run())
        return
    with pytest.raises(FailedPrecondition) as refused:
        asyncio.run(run())
    assert refused.value.error_id == (HIPAA_NEEDS_PRO if plan == "standard" else BAA_REQUIRED)


def test_a_document_needs_signer_date_and_reference() -> None:
    records = ComplianceRecords(MemoryStateStore())
    for bad in (Document(DocumentKind.BAA, "", "2026-11-01", "ref"),
                Document(DocumentKind.BAA, "x", "1 Nov", "ref"),
                Document(DocumentKind.DPA, "x", "2026-11-01", " ")):
        with pytest.raises(InvalidArgument):
            asyncio.run(records.record_document("t1", bad))
    assert asyncio.run(records.get("t1")).documents == ()


def test_the_record_round_trips() -> None:
    records = ComplianceRecords(MemoryStateStore())
    asyncio.run(records.record_document("t1", BAA))
    dpa = Document(DocumentKind.DPA, "Eu Signer", "2026-10-01", "dpa-7")
    got = asyncio.run(records.record_document("t1", dpa))
    assert asyncio.run(records.get("t1")) == got
    assert got.document(DocumentKind.BAA) == BAA and got.baa_on_file


@pytest.mark.parametrize("hipaa", [False, True])
def test_hipaa_mode_enforces_the_retention_minimum(hipaa: bool) -> None:
    record = TenantCompliance("t1", (BAA,), hipaa_mode=hipaa)
    check_retention(record, {"recording_days": 0, "voicemail_days": HIPAA_MIN_RETENTION_DAYS})
    short = {"sms_days": 30}
    if not hipaa:
        check_retention(record, short)
        return
    with pytest.raises(FailedPrecondition) as refused:
        check_retention(record, short)
    assert refused.value.error_id == "hipaa-retention-minimum"
    assert refused.value.details["field"] == "sms_days"

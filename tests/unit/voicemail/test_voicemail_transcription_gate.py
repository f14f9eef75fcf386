"""The voicemail transcription gate (issue 14): the extension's setting (default on for a
Standard tenant, off for a Pro one), ON on a Pro tenant refused without a BAA
(``baa-required``), and a privacy restriction of the mailbox's owner or the caller: a message
kept from transcription is SKIPPED with the reason. Without a transcription pool an allowed
message says SKIPPED "not deployed", which tells an allowed message from a refused one."""

from __future__ import annotations

from pathlib import Path

import pytest
from voicemail_harness import make_world

from actors.mailbox import mailbox_address
from actors.mailbox.actor import NOT_DEPLOYED, PRIVACY_RESTRICTED
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.privacy.restrictions import privacy_address
from actors.tenant.base import tenant_address
from actors.tenant.transcription import TRANSCRIPTION_OFF
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.errors import FailedPrecondition

ON = api_tenant.VOICEMAIL_TRANSCRIPTION_ON
OFF = api_tenant.VOICEMAIL_TRANSCRIPTION_OFF


async def _deposit_reason(system: object, tenant_id: str, owner: msg_common.Principal,
                          call_id: str, caller: str = "+15550100999") -> tuple[int, str]:
    box = system.ref(mailbox_address(tenant_id, "102"))  # type: ignore[attr-defined]
    deposit = msg_mailbox.DepositMessage(call_id=call_id, object_id=f"vm-102-{call_id}",
                                         duration_ms=1000, audio_bytes=16000, ended_by="hangup")
    setattr(deposit, "from", caller)
    await box.ask(deposit)
    got = await box.ask(msg_mailbox.MailboxOp(
        principal=owner, get=api_vm.VoicemailMessageRef(mailbox="102", message_id=call_id)),
        reply=api_vm.VoicemailMessage)
    stored = await box.ask(msg_mailbox.MailboxOp(
        principal=owner, list=api_vm.ListVoicemailRequest(mailbox="102")),
        reply=api_vm.ListVoicemailResponse)
    assert [m.message_id for m in stored.messages if m.message_id == call_id] == [call_id]
    return got.transcript_status, got.transcript_reason


async def test_standard_default_on_off_skips_and_restriction_skips(tmp_path: Path) -> None:
    async with make_world(tmp_path) as w:
        t = await w.fabric.tenant()
        bob = await t.user("Bob")
        await t.extension("102", bob, voicemail=True)
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "a" * 32)
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, NOT_DEPLOYED)  # allowed
        await t.extension("102", bob, voicemail=True, voicemail_transcription=OFF)
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "b" * 32)
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, TRANSCRIPTION_OFF)
        await t.extension("102", bob, voicemail=True, voicemail_transcription=ON)
        privacy = w.fabric.system.ref(privacy_address(t.tenant_id))
        await privacy.ask(msg_privacy.SetRestriction(principal=t.owner, subject="+15550100777",
                                                     restricted=True))
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "c" * 32,
                                               caller="+15550100777")
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, PRIVACY_RESTRICTED)
        await privacy.ask(msg_privacy.SetRestriction(principal=t.owner, subject=bob.user_id,
                                                     restricted=True))
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "d" * 32)
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, PRIVACY_RESTRICTED)


async def test_pro_default_off_and_on_refused_without_baa(tmp_path: Path) -> None:
    async with make_world(tmp_path) as w:
        t = await w.fabric.tenant()
        bob = await t.user("Bob")
        await t.extension("102", bob, voicemail=True, voicemail_transcription=ON)
        await w.fabric.system.ref(tenant_address(t.tenant_id)).ask(
            msg_tenant.SetTenantPlan(plan=api_carrier.PLAN_PRO))
        # turned on while Standard, then moved to Pro without a BAA: checked again, skipped
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "f" * 32)
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, "baa-required")
        await t.extension("102", bob, voicemail=True)  # unset: off on Pro, not gated
        status, reason = await _deposit_reason(w.fabric.system, t.tenant_id, bob, "e" * 32)
        assert (status, reason) == (api_vm.TRANSCRIPT_STATUS_SKIPPED, TRANSCRIPTION_OFF)
        with pytest.raises(FailedPrecondition) as refused:
            await t.extension("102", bob, voicemail=True, voicemail_transcription=ON)
        assert refused.value.error_id == "baa-required"
        policy = await w.fabric.system.ref(tenant_address(t.tenant_id)).ask(
            msg_tenant.TranscriptionPolicyQuery(extension="102"),
            reply=msg_tenant.TranscriptionPolicy)
        assert not policy.allowed and policy.reason == TRANSCRIPTION_OFF

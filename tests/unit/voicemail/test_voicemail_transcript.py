"""A message's transcript: submitted to the (in-process) transcription pool, PENDING until
its result, DONE with the text in GetMessage and a second MESSAGE_WAITING; deleted with the
message; a fabric without transcription says SKIPPED and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from voicemail_harness import OFFER, SPOKEN, make_world, sweep

from actors.call import call_address
from actors.mailbox import mailbox_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.errors import NotFound
from fabric.media.feature_types import PlayRecEnd
from fabric.vault.content import TRANSCRIPT


async def test_transcript_done_then_notified_then_deleted_with_the_message(
    tmp_path: Path,
) -> None:
    async with make_world(tmp_path, transcription=True) as w:
        t = await w.fabric.tenant()
        alice = await t.user("Alice")
        bob = await t.user("Bob")
        await t.extension("101", alice)
        await t.extension("102", bob, voicemail=True)
        call_id = "c" * 32
        await w.fabric.system.ref(call_address(call_id)).ask(msg_call.StartCall(
            call_id=call_id, principal=alice, from_extension="101",
            to=api_common.Destination(extension="102"), media=OFFER))
        bob_phone = await t.phone(bob, "102")  # registers after the call went to voicemail
        w.media.speak(call_id, sweep(1.0))
        await w.media.end_by_itself(w.fabric.system, call_id, PlayRecEnd.SILENCE)
        first = await bob_phone.expect(api_calls.CALL_EVENT_MESSAGE_WAITING)
        assert not first.message_waiting.transcript_ready
        box = w.fabric.system.ref(mailbox_address(t.tenant_id, "102"))
        ref = api_vm.VoicemailMessageRef(mailbox="102", message_id=call_id)

        async def get() -> api_vm.VoicemailMessage:
            return await box.ask(msg_mailbox.MailboxOp(principal=bob, get=ref),
                                 reply=api_vm.VoicemailMessage)

        ready = await bob_phone.expect(api_calls.CALL_EVENT_MESSAGE_WAITING, timeout=20)
        assert ready.message_waiting.transcript_ready
        got = await get()
        assert got.transcript_status == api_vm.TRANSCRIPT_STATUS_DONE
        assert got.transcript == SPOKEN and got.ended_by == "silence"
        await box.ask(msg_mailbox.MailboxOp(principal=bob, delete=ref))
        with pytest.raises(NotFound):
            await w.content.open(t.tenant_id, TRANSCRIPT, f"tx-vm-102-{call_id}")

"""The call actor's voicemail path (actors/call_voicemail.py) with the mailbox actor, a real
sealed content store and a fake relay: who answers, what is kept, the CDR, MESSAGE_WAITING."""

from __future__ import annotations

import io
import wave

from voicemail_harness import OFFER, World, pcm_wav, sweep

from actors.call import call_address
from actors.mailbox import mailbox_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.privacy import privacy_address
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.cdr import Disposition
from fabric.media.feature_types import PlayRecEnd
from fabric.vault.content import VOICEMAIL

_n = 0


async def _setup(w: World, register_callee: bool = True):  # type: ignore[no-untyped-def]
    t = await w.fabric.tenant()
    alice = await t.user("Alice")
    bob = await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob, voicemail=True, ring_timeout_s=10)
    bob_phone = await t.phone(bob, "102") if register_callee else None
    return t, alice, bob, bob_phone


async def _dial(w: World, who: msg_common.Principal, to: str) -> api_calls.CallInfo:
    global _n
    _n += 1
    call_id = f"{_n:032x}"
    return await w.fabric.system.ref(call_address(call_id)).ask(
        msg_call.StartCall(call_id=call_id, principal=who, from_extension="101",
                           to=api_common.Destination(extension=to), media=OFFER),
        reply=api_calls.CallInfo,
    )


async def _list(
    w: World, tenant_id: str, who: msg_common.Principal
) -> api_vm.ListVoicemailResponse:
    return await w.fabric.system.ref(mailbox_address(tenant_id, "102")).ask(
        msg_mailbox.MailboxOp(principal=who, list=api_vm.ListVoicemailRequest(mailbox="102")),
        reply=api_vm.ListVoicemailResponse,
    )


async def _audio(w: World, tenant_id: str, message: api_vm.VoicemailMessage) -> bytes:
    reader = await w.content.open(tenant_id, VOICEMAIL, f"vm-102-{message.call_id}")
    with wave.open(io.BytesIO(await reader.read_all()), "rb") as f:
        return f.readframes(f.getnframes())


async def test_an_unanswered_call_is_answered_by_the_mailbox_which_keeps_the_message(
    world: World,
) -> None:
    w = world
    t, alice, bob, bob_phone = await _setup(w)
    info = await _dial(w, alice, "102")
    assert info.media.relay_port  # the caller's leg
    await bob_phone.expect(api_calls.CALL_EVENT_INCOMING)
    await w.fabric.ring_out(10)
    leg = w.media.legs[info.call_id]
    assert leg.leg_id == "caller" and leg.spec.greeting is None  # the relay's default prompt
    assert leg.spec.max_seconds == 180.0
    assert (leg.spec.target.tenant_id, leg.spec.target.data_class) == (t.tenant_id, VOICEMAIL)
    ended = await bob_phone.expect(api_calls.CALL_EVENT_ENDED)
    assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
    said = sweep(2.0)
    w.media.speak(info.call_id, said)
    await w.media.end_by_itself(w.fabric.system, info.call_id, PlayRecEnd.DTMF)

    cdr = w.fabric.cdrs.rows[info.call_id]
    assert w.fabric.cdrs.writes == 1 and cdr.disposition == Disposition.VOICEMAIL
    waiting = await bob_phone.expect(api_calls.CALL_EVENT_MESSAGE_WAITING)
    assert waiting.message_waiting.mailbox == "102" and waiting.message_waiting.unheard_count == 1
    page = await _list(w, t.tenant_id, bob)
    assert page.unheard_count == 1 and len(page.messages) == 1
    m = page.messages[0]
    assert (m.ended_by, m.duration_ms, getattr(m, "from")) == ("dtmf", 2000, "101")
    assert m.transcript_status == api_vm.TRANSCRIPT_STATUS_SKIPPED and m.transcript_reason
    assert await _audio(w, t.tenant_id, m) == said  # sample-exact


async def test_hanging_up_while_recording_keeps_the_message_and_ends_voicemail(
    world: World,
) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)  # nothing rings: straight in
    info = await _dial(w, alice, "102")
    assert info.state == api_calls.CALL_STATE_ANSWERED and info.answered_by == "102"
    said = sweep(1.0)
    w.media.speak(info.call_id, said)
    done = await w.fabric.op(alice, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    assert done.end_reason == api_calls.END_REASON_VOICEMAIL
    assert w.fabric.cdrs.rows[info.call_id].disposition == Disposition.VOICEMAIL
    page = await _list(w, t.tenant_id, bob)
    assert [m.ended_by for m in page.messages] == ["hangup"]
    assert await _audio(w, t.tenant_id, page.messages[0]) == said


async def test_hanging_up_during_the_greeting_leaves_no_message(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)
    info = await _dial(w, alice, "102")
    await w.fabric.op(alice, info.call_id, hangup=api_calls.CallRef(call_id=info.call_id))
    assert w.fabric.cdrs.writes == 1
    assert w.fabric.cdrs.rows[info.call_id].disposition == Disposition.VOICEMAIL
    page = await _list(w, t.tenant_id, bob)
    assert page.total_count == 0 and await w.content.list(t.tenant_id, VOICEMAIL) == []


async def test_the_maximum_length_is_the_mailbox_setting_and_cuts_the_message(
    world: World,
) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)
    await w.fabric.system.ref(mailbox_address(t.tenant_id, "102")).ask(
        msg_mailbox.MailboxOp(principal=bob, set_settings=api_vm.SetMailboxSettingsRequest(
            mailbox="102", max_message_s=10))
    )
    info = await _dial(w, alice, "102")
    assert w.media.legs[info.call_id].spec.max_seconds == 10.0
    w.media.speak(info.call_id, sweep(12.0))
    await w.media.end_by_itself(w.fabric.system, info.call_id, PlayRecEnd.MAX_LENGTH)
    page = await _list(w, t.tenant_id, bob)
    assert [(m.ended_by, m.duration_ms) for m in page.messages] == [("max-length", 10_000)]


async def test_every_target_rejecting_goes_to_voicemail(world: World) -> None:
    w = world
    t, alice, bob, bob_phone = await _setup(w)
    info = await _dial(w, alice, "102")
    await w.fabric.op(bob, info.call_id, reject=api_calls.RejectRequest(
        call_id=info.call_id, extension="102"))
    assert info.call_id in w.media.legs
    got = await w.fabric.op(alice, info.call_id, get=api_calls.CallRef(call_id=info.call_id))
    assert got.state == api_calls.CALL_STATE_ANSWERED and got.answered_by == "102"


async def test_a_full_mailbox_does_not_answer(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)
    box = w.fabric.system.ref(mailbox_address(t.tenant_id, "102"))
    quota = api_vm.SetMailboxSettingsRequest(mailbox="102", quota_bytes=1024 * 1024)
    await box.ask(msg_mailbox.MailboxOp(principal=t.owner, set_settings=quota))
    await box.ask(msg_mailbox.DepositMessage(call_id="f" * 32, object_id="vm-102-x",
                                             duration_ms=70_000, audio_bytes=1024 * 1024))
    info = await _dial(w, alice, "102")
    assert info.state == api_calls.CALL_STATE_ENDED
    assert info.end_reason == api_calls.END_REASON_NO_ANSWER and not w.media.legs


async def test_the_tenants_greeting_is_played(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)
    greeting = pcm_wav(sweep(1.0))
    box = w.fabric.system.ref(mailbox_address(t.tenant_id, "102"))
    upload = api_vm.UploadGreetingRequest(mailbox="102", wav=greeting)
    up = await box.ask(msg_mailbox.MailboxOp(principal=bob, upload_greeting=upload),
                       reply=api_vm.MailboxGreeting)
    assert up.custom and up.duration_ms == 1000
    info = await _dial(w, alice, "102")
    assert w.media.legs[info.call_id].spec.greeting == greeting


async def test_a_restricted_caller_is_not_recorded(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w, register_callee=False)
    await w.fabric.system.ref(privacy_address(t.tenant_id)).ask(
        msg_privacy.SetRestriction(principal=t.owner, subject=alice.user_id, restricted=True))
    info = await _dial(w, alice, "102")
    assert info.state == api_calls.CALL_STATE_ENDED and not w.media.legs
    assert info.end_reason == api_calls.END_REASON_VOICEMAIL
    assert w.fabric.cdrs.rows[info.call_id].disposition == Disposition.VOICEMAIL


async def test_a_ring_groups_unanswered_call_goes_to_its_shared_mailbox(world: World) -> None:
    w = world
    t, alice, bob, bob_phone = await _setup(w)
    carol = await t.user("Carol")
    await t.extension("103", carol, voicemail=True)  # the shared mailbox: no phone of its own
    await t.admin(put_ring_group=api_tenant.PutRingGroupRequest(group=api_tenant.RingGroup(
        group_id="sales", extensions=["101", "102"], ring_timeout_s=10,
        voicemail_extension="103")))
    [number] = await t.numbers(1)
    await t.admin(route_number=api_tenant.RouteNumberRequest(
        route=api_tenant.NumberRoute(number=number, ring_group="sales")))
    call_id = "5" * 32
    info = await w.fabric.system.ref(call_address(call_id)).ask(
        msg_call.StartCall(call_id=call_id, principal=alice, from_extension="101",
                           to=api_common.Destination(number=number), media=OFFER),
        reply=api_calls.CallInfo,
    )
    await bob_phone.expect(api_calls.CALL_EVENT_INCOMING)
    await w.fabric.ring_out(10)
    leg = w.media.legs[info.call_id]
    assert leg.spec.target.object_id.startswith("vm-103-")  # 103's mailbox answered
    said = sweep(1.0)
    w.media.speak(info.call_id, said)
    await w.media.end_by_itself(w.fabric.system, info.call_id, PlayRecEnd.DTMF)
    assert w.fabric.cdrs.rows[info.call_id].disposition == Disposition.VOICEMAIL
    page = await w.fabric.system.ref(mailbox_address(t.tenant_id, "103")).ask(
        msg_mailbox.MailboxOp(principal=carol, list=api_vm.ListVoicemailRequest(mailbox="103")),
        reply=api_vm.ListVoicemailResponse,
    )
    assert [m.ended_by for m in page.messages] == ["dtmf"]
    ended = await bob_phone.expect(api_calls.CALL_EVENT_ENDED)  # the ringing stopped
    assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
    waiting = await bob_phone.expect(api_calls.CALL_EVENT_MESSAGE_WAITING)  # a member's phone
    assert waiting.message_waiting.mailbox == "103" and waiting.message_waiting.unheard_count == 1
    reader = await w.content.open(t.tenant_id, VOICEMAIL, f"vm-103-{info.call_id}")
    with wave.open(io.BytesIO(await reader.read_all()), "rb") as f:
        assert f.readframes(f.getnframes()) == said
    # without a shared mailbox the group's unanswered calls end NO_ANSWER
    await t.admin(put_ring_group=api_tenant.PutRingGroupRequest(group=api_tenant.RingGroup(
        group_id="sales", extensions=["102"], ring_timeout_s=10)))
    call_id = "6" * 32
    info = await w.fabric.system.ref(call_address(call_id)).ask(
        msg_call.StartCall(call_id=call_id, principal=alice, from_extension="101",
                           to=api_common.Destination(number=number), media=OFFER),
        reply=api_calls.CallInfo,
    )
    await w.fabric.ring_out(10)
    assert w.fabric.cdrs.rows[call_id].disposition == Disposition.NO_ANSWER
    assert call_id not in w.media.legs

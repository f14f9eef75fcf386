"""The Voicemail servicer (actors/api/voicemail.py) over the real mailbox actor and sealed
content store: reach (owner, member, another user's mailbox, another tenant), listing order
and pages, audio streaming, delete (unreadable at once), greetings and settings."""

from __future__ import annotations

import io
import wave
from typing import Any

import pytest
from voicemail_harness import World, pcm_wav, sweep

from actors.api.voicemail import VoicemailServicer
from actors.mailbox import mailbox_address
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.edge.auth import Principal, Role, current_principal
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from fabric.vault.content import VOICEMAIL

CTX: Any = None  # the servicer never reads its grpc context
_ROLE = {api_common.ROLE_OWNER: Role.OWNER, api_common.ROLE_ADMIN: Role.ADMIN,
         api_common.ROLE_MEMBER: Role.MEMBER}


def _as(p: msg_common.Principal) -> None:
    current_principal.set(Principal(_ROLE[p.role], p.tenant_id, p.user_id))


async def _deposit(w: World, tenant_id: str, call_id: str, pcm: bytes, at_ms: int) -> None:
    object_id = f"vm-102-{call_id}"
    await w.content.put(tenant_id, VOICEMAIL, object_id, pcm_wav(pcm))
    await w.fabric.system.ref(mailbox_address(tenant_id, "102")).ask(
        msg_mailbox.DepositMessage(call_id=call_id, object_id=object_id, received_at_ms=at_ms,
                                   duration_ms=len(pcm) // 16, audio_bytes=len(pcm),
                                   ended_by="hangup")
    )


async def _setup(w: World) -> Any:
    t = await w.fabric.tenant()
    alice = await t.user("Alice")
    bob = await t.user("Bob")
    await t.extension("101", alice)
    await t.extension("102", bob, voicemail=True)
    other = await w.fabric.tenant("other")
    carol = await other.user("Carol")
    await other.extension("103", carol, voicemail=True)
    return t, alice, bob, other


async def test_reach_owner_member_other_user_and_other_tenant(world: World) -> None:
    w = world
    t, alice, bob, other = await _setup(w)
    api = VoicemailServicer(w.fabric.system, w.content)
    req = api_vm.ListVoicemailRequest(mailbox="102")
    _as(bob)
    assert (await api.ListMessages(req, None)).total_count == 0
    _as(t.owner)
    assert (await api.ListMessages(req, None)).total_count == 0
    _as(alice)  # a member, and 102 is Bob's
    with pytest.raises(PermissionDenied) as denied:
        await api.ListMessages(req, CTX)
    assert denied.value.error_id == "mailbox-not-yours"
    _as(other.owner)  # another tenant's owner: the same answer as a mailbox that does not exist
    with pytest.raises(NotFound) as theirs:
        await api.ListMessages(req, CTX)
    with pytest.raises(NotFound) as missing:
        await api.ListMessages(api_vm.ListVoicemailRequest(mailbox="999"), CTX)
    assert theirs.value.error_id == missing.value.error_id == "mailbox-not-found"
    with pytest.raises(InvalidArgument) as bad:
        await api.ListMessages(api_vm.ListVoicemailRequest(mailbox="1a"), CTX)
    assert bad.value.error_id == "invalid-mailbox"


async def test_unheard_first_newest_first_in_pages(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w)
    for i in range(5):
        await _deposit(w, t.tenant_id, f"{i:032x}", sweep(0.1), 1000 + i)
    api = VoicemailServicer(w.fabric.system, w.content)
    _as(bob)
    await api.MarkHeard(api_vm.MarkHeardRequest(mailbox="102", message_id=f"{4:032x}"), CTX)
    first = await api.ListMessages(api_vm.ListVoicemailRequest(mailbox="102", page_size=3), CTX)
    rest = await api.ListMessages(api_vm.ListVoicemailRequest(
        mailbox="102", page_size=3, page_token=first.next_page_token), CTX)
    order = [m.message_id[-1] for m in list(first.messages) + list(rest.messages)]
    assert order == ["3", "2", "1", "0", "4"] and rest.next_page_token == ""
    assert (first.unheard_count, first.total_count) == (4, 5)
    with pytest.raises(InvalidArgument):
        await api.ListMessages(api_vm.ListVoicemailRequest(mailbox="102", page_token="x"), CTX)


async def test_stream_audio_then_delete_makes_it_unreadable(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w)
    pcm = sweep(9.0)  # over 64 KiB: several chunks
    call_id = "a" * 32
    await _deposit(w, t.tenant_id, call_id, pcm, 1)
    api = VoicemailServicer(w.fabric.system, w.content)
    _as(bob)
    ref = api_vm.VoicemailMessageRef(mailbox="102", message_id=call_id)
    chunks = [c async for c in api.StreamAudio(ref, None)]
    assert len(chunks) > 1 and chunks[-1].offset + len(chunks[-1].data) == chunks[0].total_bytes
    with wave.open(io.BytesIO(b"".join(c.data for c in chunks)), "rb") as f:
        assert f.readframes(f.getnframes()) == pcm
    assert (await api.GetMessage(ref, None)).heard
    gone = await api.DeleteMessage(ref, CTX)
    assert gone.message_id == call_id
    with pytest.raises(NotFound):
        await w.content.open(t.tenant_id, VOICEMAIL, f"vm-102-{call_id}")
    with pytest.raises(NotFound) as after:
        await api.GetMessage(ref, CTX)
    assert after.value.error_id == "message-not-found"


async def test_greetings_and_settings(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w)
    api = VoicemailServicer(w.fabric.system, w.content)
    _as(bob)

    async def upload(wav: bytes) -> api_vm.MailboxGreeting:
        return await api.UploadGreeting(api_vm.UploadGreetingRequest(mailbox="102", wav=wav), CTX)

    async def settings(**kw: int) -> api_vm.MailboxSettings:
        req = api_vm.SetMailboxSettingsRequest(mailbox="102", **kw)
        return await api.SetMailboxSettings(req, CTX)

    with pytest.raises(InvalidArgument) as bad:
        await upload(b"RIFF0000")
    assert bad.value.error_id == "invalid-greeting"
    stereo = io.BytesIO()
    with wave.open(stereo, "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(bytes(32000))
    with pytest.raises(InvalidArgument, match="2 channel"):
        await upload(stereo.getvalue())
    first = await upload(pcm_wav(sweep(1.0)))
    await upload(pcm_wav(sweep(2.0)))
    assert first.custom
    assert len(await w.content.list(t.tenant_id, VOICEMAIL)) == 1  # the old upload is deleted
    reset = await api.ResetGreeting(api_vm.MailboxRef(mailbox="102"), CTX)
    assert not reset.custom and await w.content.list(t.tenant_id, VOICEMAIL) == []
    with pytest.raises(PermissionDenied) as quota:
        await settings(quota_bytes=2 << 20)
    assert quota.value.error_id == "quota-admins-only"
    with pytest.raises(InvalidArgument):
        await settings(max_message_s=5)
    s = await settings(max_message_s=60)
    assert (s.max_message_s, s.quota_bytes) == (60, 50 * 1024 * 1024)
    _as(t.owner)
    s = await settings(quota_bytes=2 << 20)
    assert (s.max_message_s, s.quota_bytes) == (60, 2 << 20)


async def test_a_ring_groups_members_reach_its_shared_mailbox(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w)
    carol = await t.user("Carol")
    await t.extension("103", carol)
    dave = await t.user("Dave")
    await t.extension("104", dave, voicemail=True)  # the shared mailbox
    group = api_tenant.RingGroup(group_id="sales", extensions=["101", "103"],
                                 voicemail_extension="104")
    await t.admin(put_ring_group=api_tenant.PutRingGroupRequest(group=group))
    api = VoicemailServicer(w.fabric.system, w.content)
    req = api_vm.ListVoicemailRequest(mailbox="104")
    for member in (alice, carol, dave):  # the group's members, and the mailbox's own user
        _as(member)
        assert (await api.ListMessages(req, CTX)).total_count == 0
    _as(bob)  # not in the group
    with pytest.raises(PermissionDenied) as denied:
        await api.ListMessages(req, CTX)
    assert denied.value.error_id == "mailbox-not-yours"
    _as(alice)  # a member of the group still reaches no other member's own mailbox
    with pytest.raises(PermissionDenied):
        await api.ListMessages(api_vm.ListVoicemailRequest(mailbox="102"), CTX)


async def test_a_shared_mailbox_must_have_voicemail_and_stays_while_used(world: World) -> None:
    w = world
    t, alice, bob, _ = await _setup(w)
    put = api_tenant.PutRingGroupRequest(group=api_tenant.RingGroup(
        group_id="sales", extensions=["101"], voicemail_extension="101"))
    with pytest.raises(InvalidArgument) as off:
        await t.admin(put_ring_group=put)
    assert off.value.error_id == "voicemail-off"
    put.group.voicemail_extension = "199"
    with pytest.raises(InvalidArgument) as unknown:
        await t.admin(put_ring_group=put)
    assert unknown.value.error_id == "unknown-extension"
    put.group.voicemail_extension = "102"
    assert (await t.admin(put_ring_group=put)).voicemail_extension == "102"
    with pytest.raises(FailedPrecondition) as used:
        await t.admin(delete_extension=api_tenant.ExtensionRef(extension="102"))
    assert used.value.error_id == "extension-in-use"

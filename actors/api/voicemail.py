"""Voicemail: a tenant's mailboxes through the API (``fabric.api.v1.Voicemail``).

Reach is checked here, once per call, before the mailbox sees anything: the mailbox id must
be an extension of the caller's tenant (else NOT_FOUND ``mailbox-not-found``, the same
answer for another tenant's mailbox, whose extension is not in the caller's tenant); a
member reaches only the mailboxes of extensions assigned to them and the shared mailbox
of each ring group one of their extensions is a member of (PERMISSION_DENIED
``mailbox-not-yours``); owners and admins reach every mailbox of their tenant. The mailbox
(``actors.mailbox``) then runs the operation.

Audio is streamed from the content store of this gateway process (the process's own
``Stores.content``): the mailbox says which sealed object holds the message, the gateway
opens and decrypts it chunk by chunk and sends the WAV as the relay sealed it, so no audio passes
through an actor's mailbox and none is written to disk on the way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from actors import validate
from actors.api.principals import caller
from actors.mailbox import mailbox_address
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.api.v1 import voicemail_pb2_grpc
from fabric.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from fabric.media.wavstream import wav_chunks
from fabric.vault.content import VOICEMAIL, ContentStore

R = TypeVar("R", bound=Message)
CHUNK_BYTES = 64 * 1024
MESSAGE_ID_MAX = 64

__all__ = ["VoicemailServicer"]


def _mailbox_id(value: str) -> str:
    try:
        return validate.extension(value, "mailbox")
    except InvalidArgument:
        raise InvalidArgument(
            "mailbox must be the mailbox's extension, 2-8 digits",
            error_id="invalid-mailbox", details={"field": "mailbox"},
        ) from None


def _message_id(value: str) -> str:
    if not value or len(value) > MESSAGE_ID_MAX or not value.isalnum():
        raise NotFound(
            "no such message; `fabric voicemail list` shows the mailbox's messages",
            error_id="message-not-found",
        )
    return value


class VoicemailServicer(voicemail_pb2_grpc.VoicemailServicer):
    """Mailbox messages, audio, greetings and settings, within the caller's tenant."""

    def __init__(self, system: ActorSystem, content: ContentStore | None) -> None:
        self.system = system
        self.content = content

    async def _reach(self, mailbox: str) -> msg_common.Principal:
        """The caller, once it is checked that they may use ``mailbox`` (see module doc)."""
        mailbox = _mailbox_id(mailbox)
        who = caller()
        op = msg_tenant.AdminOp(principal=who)
        op.list_extensions.CopyFrom(api_tenant.ListExtensionsRequest())
        found = await self.system.ref(tenant_address(who.tenant_id)).ask(
            op, reply=api_tenant.ListExtensionsResponse
        )
        ext = next((e for e in found.extensions if e.extension == mailbox), None)
        if ext is None:
            raise NotFound(
                f"your tenant has no mailbox {mailbox}; a mailbox is an extension with "
                "voicemail (`fabric ext list`)",
                error_id="mailbox-not-found",
            )
        if who.role == api_common.ROLE_MEMBER and ext.user_id != who.user_id and not (
            await self._group_member(who, mailbox, found.extensions)
        ):
            raise PermissionDenied(
                f"mailbox {mailbox} belongs to another user's extension; a member reaches only "
                "the mailboxes of their own extensions and the shared mailboxes of their ring "
                "groups (an owner or admin reaches any)",
                error_id="mailbox-not-yours",
                details={"field": "mailbox", "required_roles": "owner, admin"},
            )
        return who

    async def _group_member(
        self, who: msg_common.Principal, mailbox: str, extensions: Iterable[api_tenant.Extension]
    ) -> bool:
        """Whether ``mailbox`` is the shared mailbox of a ring group with one of ``who``'s
        extensions (among the tenant's ``extensions``) among its members."""
        op = msg_tenant.AdminOp(principal=who)
        op.list_ring_groups.CopyFrom(api_tenant.ListRingGroupsRequest())
        groups = await self.system.ref(tenant_address(who.tenant_id)).ask(
            op, reply=api_tenant.ListRingGroupsResponse)
        own = {e.extension for e in extensions if e.user_id == who.user_id}
        return any(own.intersection(g.extensions) for g in groups.groups
                   if g.voicemail_extension == mailbox)

    async def _op(self, mailbox: str, reply: type[R], **op: Message) -> R:
        """Run one operation on a mailbox the caller reaches; its answer typed ``reply``."""
        who = await self._reach(mailbox)
        ref = self.system.ref(mailbox_address(who.tenant_id, mailbox))
        request = msg_mailbox.MailboxOp(principal=who, **op)  # type: ignore[arg-type]
        return await ref.ask(request, reply=reply)

    async def ListMessages(  # noqa: N802
        self, request: api_vm.ListVoicemailRequest, context: grpc.aio.ServicerContext
    ) -> api_vm.ListVoicemailResponse:
        """A page of messages, unheard first."""
        return await self._op(request.mailbox, api_vm.ListVoicemailResponse, list=request)

    async def GetMessage(  # noqa: N802
        self, request: api_vm.VoicemailMessageRef, context: grpc.aio.ServicerContext
    ) -> api_vm.VoicemailMessage:
        """One message with its transcript."""
        _message_id(request.message_id)
        return await self._op(request.mailbox, api_vm.VoicemailMessage, get=request)

    async def StreamAudio(  # noqa: N802
        self, request: api_vm.VoicemailMessageRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api_vm.VoicemailAudioChunk]:
        """The message's audio as a WAV file in chunks; read to its end, it is heard."""
        _message_id(request.message_id)
        ref = await self._op(request.mailbox, msg_mailbox.AudioRef, open_audio=request)
        if self.content is None:
            raise Unavailable("voicemail storage is not available on this gateway; retry",
                              error_id="voicemail-storage-unavailable")
        tenant_id = caller().tenant_id
        try:
            reader = await self.content.open(tenant_id, VOICEMAIL, ref.object_id)
        except NotFound:
            raise NotFound("the message was deleted", error_id="message-not-found") from None
        total = reader.info.size
        offset = 0
        pending = bytearray()
        async for piece in wav_chunks(reader):  # the header's sizes made exact
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                yield api_vm.VoicemailAudioChunk(
                    data=bytes(pending[:CHUNK_BYTES]), total_bytes=total, offset=offset
                )
                offset += CHUNK_BYTES
                del pending[:CHUNK_BYTES]
        if pending:
            yield api_vm.VoicemailAudioChunk(data=bytes(pending), total_bytes=total, offset=offset)
        mark = api_vm.MarkHeardRequest(mailbox=request.mailbox, message_id=request.message_id)
        await self._op(request.mailbox, api_vm.VoicemailMessage, mark_heard=mark)

    async def MarkHeard(  # noqa: N802
        self, request: api_vm.MarkHeardRequest, context: grpc.aio.ServicerContext
    ) -> api_vm.VoicemailMessage:
        """Mark a message heard or unheard."""
        _message_id(request.message_id)
        return await self._op(request.mailbox, api_vm.VoicemailMessage, mark_heard=request)

    async def DeleteMessage(  # noqa: N802
        self, request: api_vm.VoicemailMessageRef, context: grpc.aio.ServicerContext
    ) -> api_vm.DeleteVoicemailResponse:
        """Delete a message (its audio and transcript unreadable at once)."""
        _message_id(request.message_id)
        return await self._op(request.mailbox, api_vm.DeleteVoicemailResponse, delete=request)

    async def UploadGreeting(  # noqa: N802
        self, request: api_vm.UploadGreetingRequest, context: grpc.aio.ServicerContext
    ) -> api_vm.MailboxGreeting:
        """Replace the greeting with an upload."""
        return await self._op(request.mailbox, api_vm.MailboxGreeting, upload_greeting=request)

    async def ResetGreeting(  # noqa: N802
        self, request: api_vm.MailboxRef, context: grpc.aio.ServicerContext
    ) -> api_vm.MailboxGreeting:
        """Back to the default greeting."""
        return await self._op(request.mailbox, api_vm.MailboxGreeting, reset_greeting=request)

    async def GetMailboxSettings(  # noqa: N802
        self, request: api_vm.MailboxRef, context: grpc.aio.ServicerContext
    ) -> api_vm.MailboxSettings:
        """Settings, usage and greeting."""
        return await self._op(request.mailbox, api_vm.MailboxSettings, get_settings=request)

    async def SetMailboxSettings(  # noqa: N802
        self, request: api_vm.SetMailboxSettingsRequest, context: grpc.aio.ServicerContext
    ) -> api_vm.MailboxSettings:
        """Change the maximum message length and (admins) the quota."""
        return await self._op(request.mailbox, api_vm.MailboxSettings, set_settings=request)

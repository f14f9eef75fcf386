"""The MailboxActor: one mailbox's greeting, messages and settings.

Kind ``mailbox``, key ``<tenant id>/<mailbox id>``; the mailbox id is its extension. The
state (``MailboxState``: the messages' metadata, the greeting's object id, the settings) is
the actor's persisted state, which the fabric seals at rest like every actor state; the
audio and transcripts are vault objects in the content store (``ContentStore``, a host
service): class ``voicemail`` for messages and greetings, ``transcript`` for transcripts.

Who may do what is checked at the API edge (``actors.api.voicemail``: tenant, role and the
extension's owner) before a ``MailboxOp`` reaches the mailbox; the mailbox checks only what
depends on its own state (a message exists, the quota is an admin's).

Messages arrive from the call actor's voicemail path (``actors.call_voicemail``):
``PrepareVoicemail`` (may it record: not full; where to seal; which greeting), then
``DepositMessage`` once the relay sealed the recording (idempotent by call id, so a retried
deposit never keeps two). A new message is submitted to transcription
(``actors.transcription``; job id = its audio object id, so a re-submission queues nothing)
and is PENDING until the pool tells ``TranscriptionResult``; a full or unreachable pool is
retried on a durable reminder. Before submitting, the mailbox asks its TenantActor
(``TranscriptionPolicyQuery``: the extension's ``voicemail_transcription`` setting, the plan
and the HIPAA gate) and the privacy restriction of its owner and the caller; a message kept
from transcription is SKIPPED with the reason (``transcription-off``, ``baa-required``,
``privacy-restricted``). The owner's softphones get MESSAGE_WAITING
(``actors.mailbox.notify``) when a message arrives and when its transcript is ready.

Deleting a message deletes its vault objects first (unreadable at once), then forgets it.
"""

from __future__ import annotations

import contextlib
import logging

from google.protobuf.message import Message

from actors.mailbox import metrics, views
from actors.mailbox.audio import BEEP_MS, default_greeting_ms, parse_greeting_wav
from actors.mailbox.notify import message_waiting
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.privacy.restrictions import restricted_or_closed
from actors.tenant.base import tenant_address
from actors.transcription import TranscriptionService
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.errors import FabricError, InvalidArgument, NotFound, PermissionDenied, Unavailable
from fabric.vault.content import TRANSCRIPT, VOICEMAIL, ContentStore

log = logging.getLogger(__name__)

KIND = "mailbox"
MAX_MESSAGES = 1000
RETRY_REMINDER = "transcribe"
RETRY_S = 60.0
NOT_DEPLOYED = "transcription is not deployed on this fabric"
PRIVACY_RESTRICTED = "privacy-restricted"

__all__ = ["KIND", "MailboxActor", "mailbox_address", "message_object_id"]


def mailbox_address(tenant_id: str, mailbox_id: str) -> ActorAddress:
    """The address of a tenant's mailbox (its id is its extension)."""
    return ActorAddress(KIND, f"{tenant_id}/{mailbox_id}")


def message_object_id(mailbox_id: str, call_id: str) -> str:
    """The vault object id of the message a call leaves in a mailbox."""
    return f"vm-{mailbox_id}-{call_id}"


class MailboxActor(VirtualActor[str]):
    """One mailbox (see the module docstring)."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the state, or start an empty mailbox (saved on its first change)."""
        tenant_id, _, mailbox_id = self.ctx.address.key.partition("/")
        loaded = await self.ctx.load_state(msg_mailbox.MailboxState)
        self.state = loaded or msg_mailbox.MailboxState(tenant_id=tenant_id, mailbox_id=mailbox_id)

    def _content(self) -> ContentStore:
        try:
            return self.ctx.service(ContentStore)
        except FabricError:
            raise Unavailable(
                "voicemail storage is not available on this node; retry",
                error_id="voicemail-storage-unavailable",
            ) from None

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    def _find(self, message_id: str) -> msg_mailbox.StoredMessage:
        for m in self.state.messages:
            if m.message_id == message_id:
                return m
        raise NotFound(
            f"mailbox {self.state.mailbox_id} has no message {message_id or '(empty id)'}; "
            "`fabric voicemail list` shows its messages",
            error_id="message-not-found",
        )

    def _unheard(self) -> int:
        return sum(1 for m in self.state.messages if not m.heard)

    # ---- the API (MailboxOp, authorised at the edge) ------------------------------------

    @handler
    async def on_op(self, msg: msg_mailbox.MailboxOp) -> Message:
        """List, get, mark heard, delete, greetings and settings."""
        which = msg.WhichOneof("op")
        s = self.state
        if which == "list":
            chosen = views.ordered(list(s.messages), msg.list.unheard_only)
            start, end, token = views.page_bounds(msg.list, len(chosen))
            return api_vm.ListVoicemailResponse(
                messages=[views.to_api(s.mailbox_id, m) for m in chosen[start:end]],
                next_page_token=token,
                unheard_count=self._unheard(),
                total_count=len(s.messages),
            )
        if which == "get":
            return await self._get(msg.get.message_id)
        if which == "open_audio":
            m = self._find(msg.open_audio.message_id)
            return msg_mailbox.AudioRef(object_id=m.object_id, audio_bytes=m.audio_bytes)
        if which == "mark_heard":
            m = self._find(msg.mark_heard.message_id)
            if m.heard == msg.mark_heard.unheard:
                m.heard = not msg.mark_heard.unheard
                await self.ctx.save_state(s)
            return views.to_api(s.mailbox_id, m)
        if which == "delete":
            return await self._delete(msg.delete.message_id)
        if which == "upload_greeting":
            return await self._upload_greeting(msg.upload_greeting.wav)
        if which == "reset_greeting":
            await self._drop_greeting()
            await self.ctx.save_state(s)
            return self._greeting()
        if which == "get_settings":
            return views.settings_of(s, self._greeting())
        if which == "set_settings":
            req = msg.set_settings
            views.check_settings(req)
            if req.quota_bytes and msg.principal.role == api_common.ROLE_MEMBER:
                raise PermissionDenied(
                    "only an owner or admin may change a mailbox's quota",
                    error_id="quota-admins-only",
                    details={"field": "quota_bytes", "required_roles": "owner, admin"},
                )
            s.max_message_s = req.max_message_s or s.max_message_s
            s.quota_bytes = req.quota_bytes or s.quota_bytes
            await self.ctx.save_state(s)
            return views.settings_of(s, self._greeting())
        raise InvalidArgument("empty mailbox operation", error_id="empty-request")

    async def _get(self, message_id: str) -> api_vm.VoicemailMessage:
        m = self._find(message_id)
        out = views.to_api(self.state.mailbox_id, m)
        if m.transcript_status == api_vm.TRANSCRIPT_STATUS_DONE and m.transcript_object_id:
            reader = await self._content().open(
                self.state.tenant_id, TRANSCRIPT, m.transcript_object_id
            )
            out.transcript = (await reader.read_all()).decode("utf-8", errors="replace")
        return out

    async def _delete(self, message_id: str) -> api_vm.DeleteVoicemailResponse:
        m = self._find(message_id)
        content = self._content()
        # unreadable first: the vault refuses the objects at once, then the mailbox forgets
        transcript = m.transcript_object_id or f"tx-{m.object_id}"  # (maybe not done yet)
        objects = ((VOICEMAIL, m.object_id), (TRANSCRIPT, transcript))
        for data_class, object_id in objects:
            if object_id:
                with contextlib.suppress(NotFound):
                    await content.delete(self.state.tenant_id, data_class, object_id)
        kept = [x for x in self.state.messages if x.message_id != message_id]
        del self.state.messages[:]
        self.state.messages.extend(kept)
        await self.ctx.save_state(self.state)
        metrics.MESSAGES_DELETED.inc()
        return api_vm.DeleteVoicemailResponse(message_id=message_id, unheard_count=self._unheard())

    # ---- greetings ------------------------------------------------------------------------

    def _greeting(self) -> api_vm.MailboxGreeting:
        s = self.state
        custom = bool(s.greeting_object_id)
        return api_vm.MailboxGreeting(
            mailbox=s.mailbox_id,
            custom=custom,
            duration_ms=s.greeting_duration_ms if custom else default_greeting_ms(),
            updated_at_ms=s.greeting_updated_at_ms if custom else 0,
            beep_ms=BEEP_MS,
        )

    async def _upload_greeting(self, wav: bytes) -> api_vm.MailboxGreeting:
        length_ms = parse_greeting_wav(wav)
        s = self.state
        s.greeting_seq += 1
        object_id = f"greeting-{s.mailbox_id}-{s.greeting_seq}"
        await self._content().put(s.tenant_id, VOICEMAIL, object_id, wav, self._greeting_meta())
        await self._drop_greeting()
        s.greeting_object_id = object_id
        s.greeting_duration_ms = length_ms
        s.greeting_updated_at_ms = self._now_ms()
        await self.ctx.save_state(s)
        return self._greeting()

    def _greeting_meta(self) -> dict[str, str]:
        return {"kind": "greeting", "mailbox": self.state.mailbox_id, "audio_format": "wav"}

    async def _drop_greeting(self) -> None:
        s = self.state
        if s.greeting_object_id:
            with contextlib.suppress(NotFound):
                await self._content().delete(s.tenant_id, VOICEMAIL, s.greeting_object_id)
        s.greeting_object_id = ""
        s.greeting_duration_ms = 0
        s.greeting_updated_at_ms = 0

    # ---- from the call actor ------------------------------------------------------------

    @handler
    async def on_prepare(self, msg: msg_mailbox.PrepareVoicemail) -> msg_mailbox.VoicemailPlan:
        """May a call record a message here now, and with what greeting and limit?"""
        s = self.state
        full = (
            views.used_bytes(s) >= views.quota_bytes(s) or len(s.messages) >= MAX_MESSAGES
        )
        if full:
            metrics.CALLS_NOT_RECORDED.labels(reason="mailbox-full").inc()
            return msg_mailbox.VoicemailPlan(accept=False, refused_reason="mailbox-full")
        return msg_mailbox.VoicemailPlan(
            accept=True,
            greeting_object_id=s.greeting_object_id,
            max_message_s=views.max_message_s(s),
            object_id=message_object_id(s.mailbox_id, msg.call_id),
        )

    @handler
    async def on_deposit(self, msg: msg_mailbox.DepositMessage) -> msg_mailbox.Deposited:
        """Keep a sealed recording as a new message (idempotent by call id)."""
        s = self.state
        for m in s.messages:
            if m.call_id == msg.call_id:
                return msg_mailbox.Deposited(message_id=m.message_id, unheard_count=self._unheard())
        m = s.messages.add(
            message_id=msg.call_id,
            object_id=msg.object_id,
            received_at_ms=msg.received_at_ms or self._now_ms(),
            duration_ms=msg.duration_ms,
            audio_bytes=msg.audio_bytes,
            call_id=msg.call_id,
            ended_by=msg.ended_by,
            transcript_status=api_vm.TRANSCRIPT_STATUS_PENDING,
        )
        setattr(m, "from", getattr(msg, "from"))
        await self.ctx.save_state(s)
        metrics.MESSAGES_RECORDED.labels(ended_by=metrics.ended_by_label(msg.ended_by)).inc()
        await self._transcribe(m)
        await self._notify(m, transcript_ready=False)
        return msg_mailbox.Deposited(message_id=m.message_id, unheard_count=self._unheard())

    # ---- transcription (actors.transcription) -----------------------------------------

    def _transcription(self) -> TranscriptionService | None:
        with contextlib.suppress(FabricError):
            return self.ctx.service(TranscriptionService)  # type: ignore[type-abstract]
        return None

    async def _may_transcribe(self, m: msg_mailbox.StoredMessage) -> str:
        """"" when the message may be transcribed, else why not (an error id): the
        extension's setting and the HIPAA gate (asked of the TenantActor), then the privacy
        restriction of its owner and caller (failing closed). Raises a retryable error when
        the tenant cannot answer."""
        s = self.state
        policy = await self.ctx.system.ref(tenant_address(s.tenant_id)).ask(
            msg_tenant.TranscriptionPolicyQuery(extension=s.mailbox_id),
            reply=msg_tenant.TranscriptionPolicy,
        )
        if not policy.allowed:
            return policy.reason or "transcription-off"
        caller = getattr(m, "from")
        if await restricted_or_closed(self.ctx.system, s.tenant_id, policy.owner_user_id, caller):
            return PRIVACY_RESTRICTED
        return ""

    async def _transcribe(self, m: msg_mailbox.StoredMessage) -> None:
        """Submit a PENDING message (idempotent by job id: its audio object id); a full or
        unreachable pool leaves it PENDING and a reminder submits it again. A message the
        tenant's setting, the HIPAA gate or a privacy restriction keeps from transcription
        is SKIPPED with the reason."""
        try:
            refused = await self._may_transcribe(m)
        except FabricError:
            await self.ctx.set_reminder(RETRY_REMINDER, RETRY_S)
            return
        if refused:
            m.transcript_status = api_vm.TRANSCRIPT_STATUS_SKIPPED
            m.transcript_reason = refused
            await self.ctx.save_state(self.state)
            return
        service = self._transcription()
        if service is None:
            m.transcript_status = api_vm.TRANSCRIPT_STATUS_SKIPPED
            m.transcript_reason = NOT_DEPLOYED
            await self.ctx.save_state(self.state)
            return
        job = msg_tx.TranscriptionJob(
            job_id=m.object_id,
            tenant_id=self.state.tenant_id,
            audio_class=VOICEMAIL,
            audio_object_id=m.object_id,
            encoding=msg_tx.AUDIO_ENCODING_WAV,
            transcript_object_id=f"tx-{m.object_id}",  # deleted with the message
            reply_to=msg_common.Address(kind=KIND, key=self.ctx.address.key),
            correlation_id=m.message_id,
        )
        try:
            status = await service.submit(job)
        except FabricError as exc:
            if exc.retryable:
                await self.ctx.set_reminder(RETRY_REMINDER, RETRY_S)
                return
            m.transcript_status = api_vm.TRANSCRIPT_STATUS_FAILED
            m.transcript_reason = exc.error_id
            await self.ctx.save_state(self.state)
            return
        if status.status in (api_vm.TRANSCRIPT_STATUS_SKIPPED, api_vm.TRANSCRIPT_STATUS_FAILED):
            m.transcript_status = status.status
            m.transcript_reason = status.reason
            await self.ctx.save_state(self.state)

    async def on_reminder(self, name: str) -> None:
        """Submit again the messages whose transcription is still PENDING (the pool was full
        or down, or restarted and forgot them)."""
        if name != RETRY_REMINDER:
            return
        for m in self.state.messages:
            if m.transcript_status == api_vm.TRANSCRIPT_STATUS_PENDING:
                await self._transcribe(m)

    @handler
    async def on_transcription_result(self, msg: msg_tx.TranscriptionResult) -> None:
        """A message's transcript is done, failed or skipped (told at least once: a repeat,
        or a result for a deleted message, changes nothing)."""
        m = next((x for x in self.state.messages if x.message_id == msg.correlation_id), None)
        if m is None:  # deleted meanwhile: its transcript must not outlive it
            if msg.transcript_object_id:
                with contextlib.suppress(FabricError):
                    await self._content().delete(
                        self.state.tenant_id, TRANSCRIPT, msg.transcript_object_id
                    )
            return
        if m.transcript_status != api_vm.TRANSCRIPT_STATUS_PENDING:
            return
        m.transcript_status = msg.status
        m.transcript_object_id = msg.transcript_object_id
        m.transcript_reason = msg.reason
        await self.ctx.save_state(self.state)
        if msg.status == api_vm.TRANSCRIPT_STATUS_DONE:
            await self._notify(m, transcript_ready=True)

    async def _notify(self, m: msg_mailbox.StoredMessage, transcript_ready: bool) -> None:
        s = self.state
        waiting = api_calls.MessageWaiting(
            mailbox=s.mailbox_id,
            message_id=m.message_id,
            unheard_count=self._unheard(),
            transcript_ready=transcript_ready,
        )
        await message_waiting(
            self.ctx.system, s.tenant_id, s.mailbox_id, waiting, m.call_id, self._now_ms()
        )

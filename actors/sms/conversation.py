"""The ConversationActor: one side of an SMS conversation, (tenant, own number, other number).

Kind ``sms-conv``, key ``tenant|<blind index of the numbers>`` (:mod:`actors.sms.keys`: an
actor key is stored in the clear, so it names no number). Its state (sealed at rest like every actor
state) holds the recent history as metadata only: direction, numbers, time, segments,
delivery and read state, and the object id of the body, which is sealed in the vault's
content store (class ``sms-body``, one data key per message and side). Older messages move
into sealed pages (:mod:`actors.sms.history`), so the state stays bounded however long the
conversation gets. Deleting a message
deletes its body there (unreadable at once, key destroyed after the backup window).

A message between two numbers of the fabric touches two conversations: the sender's
(``SendSms``: seal the body, ask the recipient's side, record the outcome) and the
recipient's (``DeliverSms``: seal its own copy, apply the keyword rules, announce a
``CALL_EVENT_MESSAGE`` to the number's extensions). The recipient never asks the sender
back (that would be an ask cycle): the automatic replies to STOP / START / HELP travel back
in its answer, and each side stores them. Each side writes its message detail records
(``fabric.storage.mdr``) after its state is saved.

The opt-out is the recipient side's state: ``opted_out`` on (tenant A, A's number, B) means
B sent STOP to A's number, so A's sends to B are refused (``recipient-opted-out``).

A restricted subject (``actors.privacy.restrictions``: the sending user or the other
number) gets no processing: ``SendSms`` and ``DeliverSms`` are refused with
``FAILED_PRECONDITION privacy-restricted`` before anything is stored or sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from google.protobuf.message import Message

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import sms_pb2 as msg_sms
from actors.number import DIRECTORY
from actors.privacy.restrictions import restricted_or_closed
from actors.sms import rules
from actors.sms.gateway import NoCarrierGateway, OutboundSms, SmsGateway
from actors.sms.history import Change, PagedHistory, body_object_id
from actors.sms.keys import KIND, ConversationKeys
from actors.sms.metrics import count_keyword, count_message
from actors.sms.tenant import sms_tenant_address
from actors.tenant import tenant_address
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.errors import FabricError, FailedPrecondition, Internal, NotFound
from fabric.storage.mdr import Mdr, MdrStore
from fabric.vault.content import SMS_BODY, ContentStore

DELIVER_TIMEOUT_S = 10.0
PRIVACY_RESTRICTED = "privacy-restricted"
MAX_PAGE = 200
INBOUND = api_messaging.MESSAGE_DIRECTION_INBOUND
OUTBOUND = api_messaging.MESSAGE_DIRECTION_OUTBOUND
_ENCODING = {api_messaging.SMS_ENCODING_GSM7: "gsm7", api_messaging.SMS_ENCODING_UCS2: "ucs2"}
_STATUS = {
    api_messaging.DELIVERY_STATUS_ACCEPTED: "accepted",
    api_messaging.DELIVERY_STATUS_DELIVERED: "delivered",
    api_messaging.DELIVERY_STATUS_FAILED: "failed",
}


def new_message_id() -> str:
    """A fresh message id (32 hex digits)."""
    return uuid.uuid4().hex


class ConversationActor(VirtualActor[str]):
    """One tenant's side of the conversation between its number and another number."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the history (a new conversation until its first message is saved)."""
        tenant_id = self.key.partition("|")[0]
        state = await self.ctx.load_state(msg_sms.SmsConversationState)
        self.exists = state is not None
        self.state = state or msg_sms.SmsConversationState(tenant_id=tenant_id, next_seq=1)
        self.history = PagedHistory(self.state, self.key.partition("|")[2], self._content)

    def _numbers(self, own: str, other: str) -> None:
        """A new conversation learns its numbers from its first message."""
        if not self.exists and not self.state.own_number:
            self.state.own_number, self.state.other_number = own, other

    # ---- services -----------------------------------------------------------------------

    def _content(self) -> ContentStore:
        try:
            return self.ctx.service(ContentStore)
        except FabricError:
            raise FailedPrecondition(
                "this host has no sealed content store; SMS bodies are never kept in plaintext",
                error_id="sms-store-unavailable",
            ) from None

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    async def _append(
        self,
        message_id: str,
        direction: api_messaging.MessageDirection.ValueType,
        body: str,
        at_ms: int,
        status: api_messaging.DeliveryStatus.ValueType,
        *,
        automatic: bool = False,
        extension: str = "",
    ) -> msg_sms.StoredSms:
        """Seal the body, then add the message to the (unsaved) history."""
        s = self.state
        seg = rules.segment(body)
        own, other = s.own_number, s.other_number
        m = msg_sms.StoredSms(
            message_id=message_id,
            direction=direction,
            segments=seg.segments,
            encoding=seg.encoding,
            status=status,
            sent_at_ms=at_ms,
            read=direction == OUTBOUND,
            automatic=automatic,
            seq=s.next_seq,
            sent_by_extension=extension,
        )
        # whose body it is (sealed metadata): privacy's per-subject export and erasure find it
        subjects = ",".join(v for v in (own, other, extension) if v)
        await self._content().put(
            s.tenant_id, SMS_BODY, body_object_id(m), body.encode(), {"subjects": subjects}
        )
        s.next_seq += 1
        s.messages.append(m)
        return m

    def _from(self, m: msg_sms.StoredSms) -> str:
        """The sending number (derived from the direction; older states stored it)."""
        own, other = self.state.own_number, self.state.other_number
        return m.from_number or (own if m.direction == OUTBOUND else other)

    def _to(self, m: msg_sms.StoredSms) -> str:
        """The receiving number (derived from the direction; older states stored it)."""
        own, other = self.state.own_number, self.state.other_number
        return m.to_number or (other if m.direction == OUTBOUND else own)

    async def _save_changed(self, change: Change) -> None:
        """Save the state; then drop the pages it replaced (or, failed, those it wrote)."""
        try:
            await self.ctx.save_state(self.state)
        except BaseException:
            with contextlib.suppress(FabricError):
                await self.history.settle(change, saved=False)
            raise
        await self.history.settle(change, saved=True)

    async def _save(self, added: list[msg_sms.StoredSms]) -> None:
        change = Change()
        await self.history.page_out(change)
        await self._save_changed(change)
        self.exists = True
        await self._touch()
        await self._records(added)

    async def _touch(self) -> None:
        s = self.state
        key = msg_sms.SmsConversationKey(
            own_number=s.own_number,
            other_number=s.other_number,
            last_at_ms=self.history.last_at_ms(),
        )
        with contextlib.suppress(FabricError):
            await self.ctx.system.ref(sms_tenant_address(s.tenant_id)).tell(
                msg_sms.TouchSmsConversation(key=key, removed=not self.history.count())
            )

    async def _records(self, added: list[msg_sms.StoredSms]) -> None:
        """Write the message detail records (best effort: the message is already saved)."""
        try:
            store = self.ctx.service(MdrStore)  # type: ignore[type-abstract]
        except FabricError:
            return
        for m in added:
            with contextlib.suppress(FabricError):
                await store.write(
                    Mdr(
                        tenant_id=self.state.tenant_id,
                        message_id=m.message_id,
                        direction="inbound" if m.direction == INBOUND else "outbound",
                        from_number=self._from(m),
                        to_number=self._to(m),
                        sent_at_ms=m.sent_at_ms,
                        segments=m.segments,
                        encoding=_ENCODING[m.encoding],
                        status=_STATUS[m.status],
                    )
                )

    def _view(
        self, m: msg_sms.StoredSms, body: str | None
    ) -> api_messaging.TextMessage:
        """The public view of a message (``body`` None: the body was erased)."""
        out = api_messaging.TextMessage(
            message_id=m.message_id,
            direction=m.direction,
            own_number=self.state.own_number,
            other_number=self.state.other_number,
            to=self._to(m),
            body=body or "",
            body_erased=body is None,
            segments=m.segments,
            encoding=m.encoding,
            status=m.status,
            sent_at_ms=m.sent_at_ms,
            read=m.read,
            automatic=m.automatic,
            sent_by_extension=m.sent_by_extension,
        )
        setattr(out, "from", self._from(m))
        return out

    def _summary(self) -> api_messaging.Conversation:
        s = self.state
        return api_messaging.Conversation(
            own_number=s.own_number,
            other_number=s.other_number,
            message_count=self.history.count(),
            unread_count=self.history.unread(),
            last_at_ms=self.history.last_at_ms(),
            opted_out=s.opted_out,
        )

    async def _announce(self, views: list[api_messaging.TextMessage]) -> None:
        """Tell each inbound message to the Register streams of the number's extensions."""
        if not views:
            return
        s = self.state
        try:
            route = await self.ctx.system.ref(tenant_address(s.tenant_id)).ask(
                msg_sms.SmsRouteQuery(number=s.own_number), reply=msg_sms.SmsRoute
            )
        except FabricError:
            return  # the number left the tenant: the message stays in the conversation
        for view in views:
            for target in route.targets:
                event = api_calls.CallEvent(
                    type=api_calls.CALL_EVENT_MESSAGE,
                    to=s.own_number,
                    extension=target.extension,
                    at_ms=view.sent_at_ms,
                    message=view,
                )
                setattr(event, "from", s.other_number)
                for endpoint in target.endpoints:
                    with contextlib.suppress(FabricError):
                        await self.ctx.system.ref(_address(endpoint)).tell(event)

    # ---- sending and delivery -----------------------------------------------------------

    async def _recipient_tenant(self, msg: msg_sms.SendSms) -> str:
        """Check the sender, find who holds the recipient's number ("" outside the fabric,
        once the SMS gateway took it); raise before anything is stored."""
        system = self.ctx.system
        if not msg.sender_checked:
            await system.ref(tenant_address(self.state.tenant_id)).ask(
                msg_sms.SmsSenderQuery(principal=msg.principal, **{"from": msg.own_number}),
                reply=msg_sms.SmsSender,
            )
        owner = await system.ref(DIRECTORY).ask(
            msg_numbers.LookupNumber(number=msg.other_number), reply=msg_numbers.NumberOwner
        )
        if owner.tenant_id:
            return owner.tenant_id
        if owner.in_pool:
            raise NotFound(
                f"{msg.other_number} is not in service (no tenant holds it)",
                error_id="number-not-in-service", details={"field": "to"},
            )
        try:
            gateway: SmsGateway = self.ctx.service(SmsGateway)  # type: ignore[type-abstract]
        except FabricError:
            gateway = NoCarrierGateway()
        await gateway.send(OutboundSms(
            msg.message_id, self.state.tenant_id, msg.own_number, msg.other_number, msg.body,
            rules.segment(msg.body).segments,
        ))
        return ""

    async def _refuse_restricted(self, *subjects: str) -> None:
        """``FAILED_PRECONDITION privacy-restricted`` when a party restricted the processing
        of their data (``actors.privacy``; failing closed when that cannot be checked)."""
        if await restricted_or_closed(self.ctx.system, self.state.tenant_id, *subjects):
            raise FailedPrecondition(
                "a party of this message has restricted the processing of their data, so it "
                "is not processed; an owner or admin of the tenant lifts the restriction "
                "with `fabric privacy restrict <subject> --lift`",
                error_id=PRIVACY_RESTRICTED,
            )

    @handler
    async def on_send(self, msg: msg_sms.SendSms) -> api_messaging.TextMessage:
        """Send a message from own_number to other_number (see the module doc)."""
        if self.exists and self.state.own_number != msg.own_number:
            raise Internal("conversation key collision", error_id="sms-key-collision")
        await self._refuse_restricted(msg.principal.user_id, msg.other_number)
        recipient_tenant = await self._recipient_tenant(msg)
        self._numbers(msg.own_number, msg.other_number)
        s = self.state
        if s.opted_out:  # counted by the API with the other refusals
            raise FailedPrecondition(
                "the recipient opted out of messages from this number (it sent STOP); it "
                "must send START to this number before you can write to it again",
                error_id="recipient-opted-out",
                details={"field": "to"},
            )
        at_ms = self._now_ms()
        sent = await self._append(
            msg.message_id, OUTBOUND, msg.body, at_ms, api_messaging.DELIVERY_STATUS_ACCEPTED,
            extension=msg.sent_by_extension,
        )
        replies: list[msg_sms.SmsAutoReply] = []
        try:
            if not recipient_tenant:  # an outside number: the SMS gateway took it
                raise _Outside
            keys = self.ctx.service(ConversationKeys)  # type: ignore[type-abstract]
            recipient = await keys.address(recipient_tenant, s.other_number, s.own_number)
            result = await self.ctx.system.ref(recipient).ask(
                msg_sms.DeliverSms(
                    message_id=msg.message_id, body=msg.body, sent_at_ms=at_ms,
                    sender_tenant_id=s.tenant_id, own_number=s.other_number,
                    other_number=s.own_number,
                ),
                DELIVER_TIMEOUT_S,
                reply=msg_sms.SmsDeliveryResult,
            )
            sent.status = api_messaging.DELIVERY_STATUS_DELIVERED
            replies = list(result.replies)
        except FabricError:
            sent.status = api_messaging.DELIVERY_STATUS_FAILED
        except _Outside:
            pass  # stays ACCEPTED: the carrier's delivery report is the gateway's business
        added = [sent]
        inbound: list[api_messaging.TextMessage] = []
        for reply in replies:
            m = await self._append(
                reply.message_id, INBOUND, reply.body, reply.sent_at_ms,
                api_messaging.DELIVERY_STATUS_DELIVERED, automatic=True,
            )
            added.append(m)
            inbound.append(self._view(m, reply.body))
        await self._save(added)
        count_message("outbound", _STATUS[sent.status])
        await self._announce(inbound)
        return self._view(sent, msg.body)

    async def _help_text(self) -> str:
        try:
            settings = await self.ctx.system.ref(sms_tenant_address(self.state.tenant_id)).ask(
                api_messaging.GetSmsSettingsRequest(), reply=api_messaging.SmsSettings
            )
        except FabricError:
            return rules.DEFAULT_HELP_TEXT
        return settings.help_text or rules.DEFAULT_HELP_TEXT

    @handler
    async def on_deliver(self, msg: msg_sms.DeliverSms) -> msg_sms.SmsDeliveryResult:
        """Store an inbound message, apply the keyword rules, announce it."""
        await self._refuse_restricted(msg.other_number)
        self._numbers(msg.own_number, msg.other_number)
        s = self.state
        got = await self._append(
            msg.message_id, INBOUND, msg.body, msg.sent_at_ms,
            api_messaging.DELIVERY_STATUS_DELIVERED,
        )
        added = [got]
        kw = rules.keyword(msg.body)
        answer: str | None = None
        if kw is rules.Keyword.STOP:
            s.opted_out = True
            answer = rules.STOP_CONFIRMATION
        elif kw is rules.Keyword.START:
            s.opted_out = False
            answer = rules.START_CONFIRMATION
        elif kw is rules.Keyword.HELP:
            answer = await self._help_text()
        out = msg_sms.SmsDeliveryResult()
        if answer is not None and kw is not None:
            count_keyword(kw.value)
            reply_id = new_message_id()
            at_ms = max(self._now_ms(), msg.sent_at_ms)
            added.append(
                await self._append(
                    reply_id, OUTBOUND, answer, at_ms, api_messaging.DELIVERY_STATUS_DELIVERED,
                    automatic=True,
                )
            )
            out.replies.add(message_id=reply_id, body=answer, sent_at_ms=at_ms)
        await self._save(added)
        count_message("inbound", "delivered")
        await self._announce([self._view(got, msg.body)])
        return out

    # ---- reading and deleting -----------------------------------------------------------

    @handler
    async def on_op(self, msg: msg_sms.SmsConversationOp) -> Message:
        """History, mark read, delete, summary (the API checked the principal's reach)."""
        if not self.exists:
            self.ctx.deactivate_after_turn()
            raise NotFound(
                "no conversation between these numbers; `fabric sms list` shows yours",
                error_id="conversation-not-found",
            )
        op = msg.WhichOneof("op")
        if op == "history":
            return await self._history(msg.history)
        if op == "mark_read":
            return await self._mark_read(msg.mark_read.up_to_message_id)
        if op == "delete_message":
            return await self._delete({msg.delete_message.message_id})
        if op == "delete_all":
            return await self._delete(None)
        if op == "summary":
            return self._summary()
        raise Internal("empty conversation operation", error_id="malformed-request")

    async def _body(self, m: msg_sms.StoredSms) -> str | None:
        """The message's body; None when it was erased (privacy erasure, retention)."""
        try:
            reader = await self._content().open(
                self.state.tenant_id, SMS_BODY, body_object_id(m)
            )
        except NotFound:
            return None
        return (await reader.read_all()).decode()

    async def _history(self, page: msg_sms.SmsHistoryPage) -> msg_sms.SmsHistoryReply:
        size = min(page.page_size or 50, MAX_PAGE)
        chosen, more = await self.history.newest(size, page.before_seq)
        bodies = await asyncio.gather(*(self._body(m) for m in chosen))
        out = msg_sms.SmsHistoryReply(conversation=self._summary())
        out.messages.extend(self._view(m, b) for m, b in zip(chosen, bodies, strict=True))
        if more:
            out.next_before_seq = chosen[-1].seq
        return out

    async def _mark_read(self, up_to: str) -> api_messaging.Conversation:
        limit = self.state.next_seq
        if up_to:
            found = await self.history.find(up_to)
            if found is None:
                raise _message_not_found()
            limit = found.message.seq
        change = Change()
        if await self.history.mark_read(limit, change):
            await self._save_changed(change)
        return self._summary()

    async def _delete(self, message_ids: set[str] | None) -> api_messaging.DeleteResponse:
        """Delete some messages (None: all of them) with their bodies and emptied pages."""
        change = Change()
        deleted = await self.history.delete(message_ids, change)
        if message_ids is not None and not deleted:
            raise _message_not_found()
        await self._save_changed(change)
        await self._touch()
        return api_messaging.DeleteResponse(deleted=deleted)


class _Outside(Exception):
    """The recipient is outside the fabric (no conversation to deliver to)."""


def _message_not_found() -> NotFound:
    return NotFound(
        "no message with this id in this conversation; `fabric sms show` lists them",
        error_id="message-not-found",
    )


def _address(endpoint: msg_common.Address) -> ActorAddress:
    return ActorAddress(endpoint.kind, endpoint.key)

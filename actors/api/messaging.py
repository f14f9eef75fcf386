"""Messaging: SMS between numbers (``protos/fabric/api/v1/messaging.proto``).

The servicer checks what it can alone (body length, numbers, the rate; an extension's number
through the TenantActor), then makes one ask to the sender's ConversationActor
(``actors.sms.conversation``), which checks the sending number's owner and the principal's
reach, finds the recipient, and only then stores and sends: a refused send stores nothing. A member
reaches the conversations of the numbers routed to their extensions, owners and admins
every number of the tenant; conversations are keyed by the caller's tenant, so another
tenant's are never reached (NOT_FOUND, as an absent one).

The send rate is a token bucket per tenant in this gateway process
(``api.sms_per_s_per_tenant``, ``api.sms_burst``): with N gateways a tenant may send up to N
times the rate.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from actors import validate
from actors.api.principals import caller
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import sms_pb2 as msg_sms
from actors.sms import rules
from actors.sms.conversation import new_message_id
from actors.sms.keys import ConversationKeys, VaultConversationKeys
from actors.sms.metrics import count_message
from actors.sms.tenant import sms_tenant_address
from actors.tenant import tenant_address
from fabric.actor import ActorAddress, ActorSystem
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.api.v1 import messaging_pb2_grpc
from fabric.clock import Clock, SystemClock
from fabric.config import ApiSettings
from fabric.edge.limits import RateLimiter, exhausted
from fabric.errors import FabricError, FailedPrecondition, InvalidArgument, NotFound
from fabric.vault.vault import Vault

R = TypeVar("R", bound=Message)
DEFAULT_PAGE = 50
MAX_PAGE = 200


def _page_size(value: int) -> int:
    if value > MAX_PAGE:
        raise InvalidArgument(
            f"page_size must be 1 to {MAX_PAGE} (0 = {DEFAULT_PAGE})",
            error_id="invalid-page-size",
            details={"field": "page_size"},
        )
    return value or DEFAULT_PAGE


def _token(value: str) -> int:
    if not value:
        return 0
    if not value.isdigit() or len(value) > 18:
        raise InvalidArgument(
            "page_token must be a next_page_token this method returned, or empty",
            error_id="invalid-page-token",
            details={"field": "page_token"},
        )
    return int(value)


def _message_id(value: str, field: str) -> str:
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidArgument(
            f"{field} must be a message id: 32 hex digits, as SendMessage or GetHistory gave",
            error_id="invalid-message-id", details={"field": field},
        )
    return value


def _conversation_not_found() -> NotFound:
    return NotFound(
        "no conversation between these numbers that you can reach; `fabric sms list` shows "
        "yours",
        error_id="conversation-not-found",
    )


class MessagingServicer(messaging_pb2_grpc.MessagingServicer):
    """SMS: send, conversations, history, read state, delete, settings."""

    def __init__(
        self,
        system: ActorSystem,
        settings: ApiSettings | None = None,
        *,
        clock: Clock | None = None,
        vault: Vault | None = None,
        keys: ConversationKeys | None = None,
    ) -> None:
        api = settings or ApiSettings()
        self.system = system
        self._keys = keys or (VaultConversationKeys(vault) if vault is not None else None)
        self.rate = RateLimiter(api.sms_per_s_per_tenant, api.sms_burst, clock or SystemClock())

    async def _address(self, tenant_id: str, own: str, other: str) -> ActorAddress:
        if self._keys is None:
            raise FailedPrecondition(
                "this gateway has no vault to name conversations with; SMS is unavailable",
                error_id="sms-store-unavailable",
            )
        return await self._keys.address(tenant_id, own, other)

    # ---- sending ------------------------------------------------------------------------

    async def SendMessage(  # noqa: N802
        self, request: api_messaging.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.TextMessage:
        """Send a message from one of your numbers (or extensions) to a number."""
        who = caller()
        sender_ref = getattr(request, "from")
        try:
            if not sender_ref:
                raise InvalidArgument(
                    "from must be one of your numbers (E.164) or extensions",
                    error_id="invalid-number", details={"field": "from"},
                )
            if sender_ref.startswith("+"):
                validate.e164(sender_ref, "from")
            else:
                validate.extension(sender_ref, "from")
            validate.e164(request.to, "to")
            rules.check_body(request.body)
            wait = self.rate.wait_s(who.tenant_id)
            if wait > 0:
                raise exhausted(
                    "rate-limited-sms", "your tenant is sending SMS faster than its rate", wait
                )
            sender = msg_sms.SmsSender(number=sender_ref)
            if not sender_ref.startswith("+"):  # an extension: the number routed to it
                sender = await self.system.ref(tenant_address(who.tenant_id)).ask(
                    msg_sms.SmsSenderQuery(principal=who, **{"from": sender_ref}),
                    reply=msg_sms.SmsSender,
                )
            if sender.number == request.to:
                raise InvalidArgument(
                    "to is the sending number itself; send to another number",
                    error_id="same-number", details={"field": "to"},
                )
            # one hop: the sender's conversation checks the number's owner (unless checked
            # above), finds the recipient and sends, in the actor host
            address = await self._address(who.tenant_id, sender.number, request.to)
            return await self.system.ref(address).ask(
                msg_sms.SendSms(
                    message_id=new_message_id(),
                    body=request.body,
                    sent_by_extension=sender.extension,
                    own_number=sender.number,
                    other_number=request.to,
                    principal=who,
                    sender_checked=bool(sender.extension),
                ),
                reply=api_messaging.TextMessage,
            )
        except FabricError as exc:
            count_message("outbound", exc.error_id or "refused")
            raise

    # ---- reading ------------------------------------------------------------------------

    async def _reach(self, who: msg_common.Principal) -> msg_sms.SmsReach:
        return await self.system.ref(tenant_address(who.tenant_id)).ask(
            msg_sms.SmsReachQuery(principal=who), reply=msg_sms.SmsReach
        )

    async def _op(
        self, ref: api_messaging.ConversationRef, op: msg_sms.SmsConversationOp, reply: type[R]
    ) -> R:
        """Run ``op`` on a conversation the caller reaches (else conversation-not-found)."""
        who = caller()
        validate.e164(ref.own_number, "own_number")
        validate.e164(ref.other_number, "other_number")
        reach = await self._reach(who)
        if not reach.all and ref.own_number not in reach.numbers:
            raise _conversation_not_found()
        address = await self._address(who.tenant_id, ref.own_number, ref.other_number)
        return await self.system.ref(address).ask(op, reply=reply)

    async def ListConversations(  # noqa: N802
        self, request: api_messaging.ListConversationsRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.ListConversationsResponse:
        """Your conversations, most recent first."""
        who = caller()
        size = _page_size(request.page_size)
        offset = _token(request.page_token)
        reach = await self._reach(who)
        numbers = list(reach.numbers)
        if request.own_number:
            validate.e164(request.own_number, "own_number")
            if not reach.all and request.own_number not in reach.numbers:
                raise NotFound(
                    f"{request.own_number} is not one of the numbers you reach; `fabric number "
                    "list` shows your tenant's",
                    error_id="number-not-found", details={"field": "own_number"},
                )
            numbers = [request.own_number]
        keys = await self.system.ref(sms_tenant_address(who.tenant_id)).ask(
            msg_sms.ListSmsConversationKeys(
                own_numbers=numbers, all=reach.all and not request.own_number,
                offset=offset, limit=size,
            ),
            reply=msg_sms.SmsConversationKeys,
        )

        async def one(key: msg_sms.SmsConversationKey) -> api_messaging.Conversation | None:
            try:
                address = await self._address(who.tenant_id, key.own_number, key.other_number)
                return await self.system.ref(address).ask(
                    msg_sms.SmsConversationOp(summary=api_messaging.ConversationRef()),
                    reply=api_messaging.Conversation,
                )
            except FabricError:
                return None

        found = await asyncio.gather(*(one(k) for k in keys.keys))
        return api_messaging.ListConversationsResponse(
            conversations=[c for c in found if c is not None],
            next_page_token=str(offset + size) if keys.more else "",
        )

    async def GetHistory(  # noqa: N802
        self, request: api_messaging.GetHistoryRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.GetHistoryResponse:
        """A conversation's messages, newest first."""
        page = msg_sms.SmsHistoryPage(
            page_size=_page_size(request.page_size), before_seq=_token(request.page_token)
        )
        reply = await self._op(
            request.conversation, msg_sms.SmsConversationOp(history=page), msg_sms.SmsHistoryReply
        )
        return api_messaging.GetHistoryResponse(
            conversation=reply.conversation,
            messages=reply.messages,
            next_page_token=str(reply.next_before_seq) if reply.next_before_seq else "",
        )

    async def MarkRead(  # noqa: N802
        self, request: api_messaging.MarkReadRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.Conversation:
        """Mark inbound messages read."""
        if request.up_to_message_id:
            _message_id(request.up_to_message_id, "up_to_message_id")
        return await self._op(
            request.conversation, msg_sms.SmsConversationOp(mark_read=request),
            api_messaging.Conversation,
        )

    async def DeleteMessage(  # noqa: N802
        self, request: api_messaging.DeleteMessageRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.DeleteResponse:
        """Delete one message (its body becomes unreadable at once)."""
        _message_id(request.message_id, "message_id")
        return await self._op(
            request.conversation, msg_sms.SmsConversationOp(delete_message=request),
            api_messaging.DeleteResponse,
        )

    async def DeleteConversation(  # noqa: N802
        self, request: api_messaging.ConversationRef, context: grpc.aio.ServicerContext
    ) -> api_messaging.DeleteResponse:
        """Delete every message of a conversation."""
        return await self._op(
            request, msg_sms.SmsConversationOp(delete_all=request), api_messaging.DeleteResponse
        )

    # ---- settings -----------------------------------------------------------------------

    async def GetSmsSettings(  # noqa: N802
        self, request: api_messaging.GetSmsSettingsRequest, context: grpc.aio.ServicerContext
    ) -> api_messaging.SmsSettings:
        """The tenant's SMS settings."""
        return await self.system.ref(sms_tenant_address(caller().tenant_id)).ask(
            request, reply=api_messaging.SmsSettings
        )

    async def SetSmsSettings(  # noqa: N802
        self, request: api_messaging.SmsSettings, context: grpc.aio.ServicerContext
    ) -> api_messaging.SmsSettings:
        """Change the tenant's SMS settings."""
        rules.check_help_text(request.help_text)
        return await self.system.ref(sms_tenant_address(caller().tenant_id)).ask(
            request, reply=api_messaging.SmsSettings
        )

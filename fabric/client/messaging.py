"""``SmsClient``: the Messaging service (SMS) for one :class:`FabricClient`'s credential.

    sms = SmsClient(client)
    sent = await sms.send("+15550100001", "+15550100002", "hello")   # or from an extension
    page = await sms.history("+15550100002", "+15550100001")          # the recipient's side

Errors are the server's :mod:`fabric.errors` classes with their error ids (e.g.
``recipient-opted-out``, ``rate-limited-sms``, ``no-carrier-trunk``). Incoming messages
arrive on a registered :class:`~fabric.client.Softphone` as ``CALL_EVENT_MESSAGE`` events
(``event.message``).
"""

from __future__ import annotations

from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.api.v1 import messaging_pb2_grpc
from fabric.client.client import FabricClient


def conversation(own_number: str, other_number: str) -> api_messaging.ConversationRef:
    """A reference to the conversation of your ``own_number`` with ``other_number``."""
    return api_messaging.ConversationRef(own_number=own_number, other_number=other_number)


class SmsClient:
    """Typed methods over the Messaging service."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client
        self.stub = messaging_pb2_grpc.MessagingStub(client.channel)

    async def send(self, sender: str, to: str, body: str) -> api_messaging.TextMessage:
        """Send ``body`` from one of your numbers or extensions (``sender``) to ``to``."""
        request = api_messaging.SendMessageRequest(to=to, body=body, **{"from": sender})
        return await self.client.call(self.stub.SendMessage, request)

    async def conversations(
        self, own_number: str = "", page_size: int = 0, page_token: str = ""
    ) -> api_messaging.ListConversationsResponse:
        """Your conversations, most recent first (optionally of one of your numbers)."""
        return await self.client.call(
            self.stub.ListConversations,
            api_messaging.ListConversationsRequest(
                own_number=own_number, page_size=page_size, page_token=page_token
            ),
        )

    async def history(
        self, own_number: str, other_number: str, page_size: int = 0, page_token: str = ""
    ) -> api_messaging.GetHistoryResponse:
        """A conversation's messages, newest first."""
        return await self.client.call(
            self.stub.GetHistory,
            api_messaging.GetHistoryRequest(
                conversation=conversation(own_number, other_number),
                page_size=page_size,
                page_token=page_token,
            ),
        )

    async def mark_read(
        self, own_number: str, other_number: str, up_to_message_id: str = ""
    ) -> api_messaging.Conversation:
        """Mark the conversation's inbound messages read (up to one, or all)."""
        return await self.client.call(
            self.stub.MarkRead,
            api_messaging.MarkReadRequest(
                conversation=conversation(own_number, other_number),
                up_to_message_id=up_to_message_id,
            ),
        )

    async def delete_message(self, own_number: str, other_number: str, message_id: str) -> int:
        """Delete one message of your side; return how many were deleted (1)."""
        reply = await self.client.call(
            self.stub.DeleteMessage,
            api_messaging.DeleteMessageRequest(
                conversation=conversation(own_number, other_number), message_id=message_id
            ),
        )
        return reply.deleted

    async def delete_conversation(self, own_number: str, other_number: str) -> int:
        """Delete every message of a conversation (your side); return how many."""
        reply = await self.client.call(
            self.stub.DeleteConversation, conversation(own_number, other_number)
        )
        return reply.deleted

    async def settings(self) -> api_messaging.SmsSettings:
        """The tenant's SMS settings (owners and admins)."""
        return await self.client.call(
            self.stub.GetSmsSettings, api_messaging.GetSmsSettingsRequest()
        )

    async def set_help_text(self, help_text: str) -> api_messaging.SmsSettings:
        """Set the answer to HELP ("" restores the default; owners and admins)."""
        return await self.client.call(
            self.stub.SetSmsSettings, api_messaging.SmsSettings(help_text=help_text)
        )

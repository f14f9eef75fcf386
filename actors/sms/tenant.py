"""The per-tenant SMS actor: the tenant's SMS settings and its conversation index.

Kind ``sms-tenant``, key = tenant id. Conversations tell it when they change
(``TouchSmsConversation``); the set of conversations is saved when one appears or empties,
the time of the last message is kept in memory between those saves (after a re-activation
the order of the list may be a little stale until the next message). ListConversations reads
the keys here and each conversation's counts from the conversation itself.
"""

from __future__ import annotations

from actors.messages.v1 import sms_pb2 as msg_sms
from actors.sms import rules
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import messaging_pb2 as api_messaging

KIND = "sms-tenant"


def sms_tenant_address(tenant_id: str) -> ActorAddress:
    """The address of a tenant's SMS actor."""
    return ActorAddress(KIND, tenant_id)


class SmsTenantActor(VirtualActor[str]):
    """A tenant's SMS settings and conversation index."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the settings and the index."""
        self.state = await self.ctx.load_state(msg_sms.SmsTenantState) or msg_sms.SmsTenantState()
        self.index: dict[tuple[str, str], int] = {
            (k.own_number, k.other_number): k.last_at_ms for k in self.state.conversations
        }

    async def _save(self) -> None:
        del self.state.conversations[:]
        for (own, other), at in sorted(self.index.items()):
            self.state.conversations.add(own_number=own, other_number=other, last_at_ms=at)
        await self.ctx.save_state(self.state)

    @handler
    async def on_touch(self, msg: msg_sms.TouchSmsConversation) -> None:
        """A conversation changed (or emptied)."""
        key = (msg.key.own_number, msg.key.other_number)
        if msg.removed:
            if self.index.pop(key, None) is not None:
                await self._save()
            return
        known = key in self.index
        self.index[key] = max(self.index.get(key, 0), msg.key.last_at_ms)
        if not known:
            await self._save()

    @handler
    async def on_list(self, msg: msg_sms.ListSmsConversationKeys) -> msg_sms.SmsConversationKeys:
        """Conversation keys of the given numbers (or all), most recent first, paged."""
        wanted = set(msg.own_numbers)
        keys = [
            (at, own, other)
            for (own, other), at in self.index.items()
            if msg.all or own in wanted
        ]
        keys.sort(key=lambda k: (-k[0], k[1], k[2]))
        page = keys[msg.offset : msg.offset + msg.limit]
        out = msg_sms.SmsConversationKeys(more=len(keys) > msg.offset + msg.limit)
        for at, own, other in page:
            out.keys.add(own_number=own, other_number=other, last_at_ms=at)
        return out

    @handler
    async def on_get_settings(
        self, msg: api_messaging.GetSmsSettingsRequest
    ) -> api_messaging.SmsSettings:
        """The tenant's SMS settings (the default help text when none is set)."""
        return api_messaging.SmsSettings(help_text=self.state.help_text or rules.DEFAULT_HELP_TEXT)

    @handler
    async def on_set_settings(self, msg: api_messaging.SmsSettings) -> api_messaging.SmsSettings:
        """Change the settings ("" restores the default help text)."""
        rules.check_help_text(msg.help_text)
        self.state.help_text = msg.help_text.strip()
        await self._save()
        return api_messaging.SmsSettings(help_text=self.state.help_text or rules.DEFAULT_HELP_TEXT)

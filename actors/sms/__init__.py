"""SMS between numbers: conversations, carrier rules, the per-tenant SMS actor, the gateway
contract for carriers. See :mod:`actors.sms.conversation` for how a message travels."""

from actors.sms.conversation import ConversationActor
from actors.sms.keys import ConversationKeys, VaultConversationKeys
from actors.sms.tenant import SmsTenantActor, sms_tenant_address

__all__ = [
    "ConversationActor",
    "ConversationKeys",
    "SmsTenantActor",
    "VaultConversationKeys",
    "sms_tenant_address",
]

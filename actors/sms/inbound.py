"""The inbound entry point of an SMS gateway: a carrier delivered a message to one of our
numbers.

A gateway's receive loop (SMPP ``deliver_sm``, an HTTP webhook) calls
:func:`receive_inbound` with the actor system and the message. It is stored in the
recipient's conversation and announced exactly as a message from a number of the fabric
(keywords included); the automatic replies (to STOP, START, HELP) come back for the gateway
to send to the carrier. A number no tenant holds is ``NOT_FOUND number-not-in-service``
(the gateway answers the carrier with its own error).
"""

from __future__ import annotations

from actors import validate
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import sms_pb2 as msg_sms
from actors.number import DIRECTORY
from actors.sms import rules
from actors.sms.gateway import InboundSms
from actors.sms.keys import ConversationKeys
from fabric.actor import ActorSystem
from fabric.errors import NotFound


async def receive_inbound(
    system: ActorSystem, keys: ConversationKeys, sms: InboundSms
) -> list[msg_sms.SmsAutoReply]:
    """Deliver a carrier's message; return the automatic replies to send back."""
    validate.e164(sms.from_number, "from")
    validate.e164(sms.to_number, "to")
    rules.check_body(sms.body)
    owner = await system.ref(DIRECTORY).ask(
        msg_numbers.LookupNumber(number=sms.to_number), reply=msg_numbers.NumberOwner
    )
    if not owner.tenant_id:
        raise NotFound("the number is not in service", error_id="number-not-in-service")
    address = await keys.address(owner.tenant_id, sms.to_number, sms.from_number)
    result = await system.ref(address).ask(
        msg_sms.DeliverSms(
            message_id=sms.message_id, body=sms.body, sent_at_ms=sms.received_at_ms,
            own_number=sms.to_number, other_number=sms.from_number,
        ),
        reply=msg_sms.SmsDeliveryResult,
    )
    return list(result.replies)

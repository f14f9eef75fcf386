"""The SMS gateway contract: how messages leave for, and arrive from, a carrier's network.

Numbers of this fabric are delivered between conversations directly; any other number needs
a gateway to a carrier (an SMPP bind or an HTTP API). :class:`SmsGateway` is what such a
gateway implements: ``send`` hands an outbound message to the carrier (raising a
``FabricError``, e.g. ``Unavailable``, when it cannot), and the carrier's inbound messages
enter through :func:`actors.sms.inbound.receive_inbound` (the gateway's receive loop calls
it with the system and an :class:`InboundSms`). Until one is configured,
:class:`NoCarrierGateway` refuses every outside number with ``UNAVAILABLE no-carrier-trunk``,
as calls do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fabric.errors import Unavailable


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """A message for a number outside the fabric."""

    message_id: str
    tenant_id: str
    from_number: str
    to_number: str
    body: str
    segments: int


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A message a carrier delivered to one of the fabric's numbers."""

    message_id: str
    from_number: str  # the outside sender (E.164)
    to_number: str  # a number of this fabric (E.164)
    body: str
    received_at_ms: int


@runtime_checkable
class SmsGateway(Protocol):
    """A carrier connection for SMS (SMPP or HTTP)."""

    async def send(self, message: OutboundSms) -> str:
        """Hand the message to the carrier; return the carrier's message reference."""
        ...


class NoCarrierGateway:
    """The gateway of a fabric with no carrier connection: every send is refused."""

    async def send(self, message: OutboundSms) -> str:
        """Refuse: UNAVAILABLE no-carrier-trunk."""
        raise Unavailable(
            "the recipient is not a number of this fabric, and no SMS gateway to a carrier is "
            "configured yet; send to a number on this fabric",
            error_id="no-carrier-trunk",
            details={"field": "to"},
        )

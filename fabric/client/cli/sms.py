"""``fabric sms``: send an SMS, list conversations, show one (any tenant key; a member: the
numbers routed to their extensions)."""

from __future__ import annotations

import click

from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.client.client import FabricClient
from fabric.client.messaging import SmsClient

from .base import Group, pass_session
from .output import as_dict, emit, emit_fields, enum, when
from .session import MEMBER, Session, fail

MAX_BODY = 1600


def _status(m: api_messaging.TextMessage) -> str:
    return enum(api_messaging.DeliveryStatus.Name(m.status), "DELIVERY_STATUS_")


def _direction(m: api_messaging.TextMessage) -> str:
    return "in" if m.direction == api_messaging.MESSAGE_DIRECTION_INBOUND else "out"


@click.group(cls=Group)
def sms() -> None:
    """SMS between numbers: send from one of your numbers (or an extension, which sends as
    the number routed to it), list your conversations, show one with its messages."""


@sms.command("send")
@click.argument("sender", metavar="FROM")
@click.argument("to")
@click.argument("body")
@pass_session
def sms_send(s: Session, sender: str, to: str, body: str) -> None:
    """Send BODY from FROM (your number, E.164, or your extension) to TO (E.164)."""
    if not body.strip():
        fail("BODY is empty: write 1 to 1,600 characters", 2)
    if len(body) > MAX_BODY:
        fail(f"BODY has {len(body)} characters; the limit is {MAX_BODY}", 2)
    if not to.startswith("+"):
        fail(f"TO {to!r} must be an E.164 number such as +15550100001", 2)

    async def run(c: FabricClient) -> None:
        m = await SmsClient(c).send(sender, to, body)
        emit_fields(s, as_dict(m), [
            ("message", m.message_id), ("from", getattr(m, "from")), ("to", m.to),
            ("status", _status(m)), ("segments", f"{m.segments} "
             f"({enum(api_messaging.SmsEncoding.Name(m.encoding), 'SMS_ENCODING_')})"),
            (f"sent ({s.tz})", when(m.sent_at_ms, s.tz)),
        ])

    s.run(MEMBER, run)


@sms.command("list")
@click.option("--number", help="only the conversations of this number of yours")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True,
              help="at most this many conversations (1-200)")
@pass_session
def sms_list(s: Session, number: str | None, limit: int) -> None:
    """Your conversations, most recent first, with unread counts."""

    async def run(c: FabricClient) -> None:
        page = await SmsClient(c).conversations(number or "", limit)
        emit(s, [as_dict(v) for v in page.conversations],
             ["number", "with", "messages", "unread", f"last ({s.tz})", "opted out"],
             [(v.own_number, v.other_number, v.message_count, v.unread_count,
               when(v.last_at_ms, s.tz), "yes" if v.opted_out else "")
              for v in page.conversations])

    s.run(MEMBER, run)


@sms.command("show")
@click.argument("own_number", metavar="NUMBER")
@click.argument("other_number", metavar="OTHER")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True,
              help="at most this many messages, newest first (1-200)")
@click.option("--mark-read", is_flag=True, help="then mark the conversation read")
@pass_session
def sms_show(s: Session, own_number: str, other_number: str, limit: int,
             mark_read: bool) -> None:
    """The conversation of your NUMBER with OTHER: its messages, newest first."""

    async def run(c: FabricClient) -> None:
        client = SmsClient(c)
        page = await client.history(own_number, other_number, limit)
        emit(s, [as_dict(m) for m in page.messages],
             [f"sent ({s.tz})", "dir", "status", "seg", "read", "text"],
             [(when(m.sent_at_ms, s.tz), _direction(m), _status(m), m.segments,
               "" if m.read else "new", m.body) for m in page.messages],
             title=f"{own_number} with {other_number}")
        if mark_read:
            await client.mark_read(own_number, other_number)

    s.run(MEMBER, run)

"""Carrier rules for SMS: body length, segment counting and the opt-out keywords.

Segments are counted as carriers count them. A body whose every character is in the GSM
03.38 default alphabet (or its extension table, whose characters take two septets: an
escape and the character) is sent as GSM-7: 160 septets fit one segment, and a split body
takes 153 per segment (the user data header of concatenation takes the rest). Any other
body is sent as UCS-2: 70 UTF-16 code units in one segment, 67 per segment when split; a
character outside the basic plane (most emoji) takes two units. A carrier splits a
multipart UCS-2 body between surrogates never, so a pair that would straddle a boundary
moves whole to the next segment (as it does for GSM-7 escapes).

The alphabet is the 3GPP TS 23.038 table, written out here: the PyPI codecs for it are
unmaintained one-person packages, and the table is a fixed standard of 137 characters.

Keywords (CTIA / carrier practice): the whole body, any case, spaces around ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.errors import InvalidArgument

MAX_BODY_CHARS = 1600
MAX_HELP_CHARS = 320
DEFAULT_HELP_TEXT = "Reply STOP to opt out, START to opt back in."
STOP_CONFIRMATION = (
    "You are unsubscribed and will receive no more messages from this number. "
    "Reply START to resubscribe."
)
START_CONFIRMATION = "You are subscribed again to messages from this number. Reply STOP to stop."

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


class Keyword(enum.Enum):
    """What a whole-body keyword asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


_KEYWORDS = {
    **{k: Keyword.STOP for k in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")},
    **{k: Keyword.START for k in ("START", "UNSTOP")},
    "HELP": Keyword.HELP,
}


@dataclass(frozen=True, slots=True)
class Segmentation:
    """How a body travels: its encoding and the number of segments it takes."""

    encoding: api_messaging.SmsEncoding.ValueType
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def _split(widths: list[int], single: int, multi: int) -> int:
    """Segments for characters of the given widths (a character never straddles two)."""
    total = sum(widths)
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments += 1
            used = 0
        used += width
    return segments


def segment(body: str) -> Segmentation:
    """The encoding and segment count of ``body`` (see the module doc)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        widths = [2 if c in GSM7_EXTENSION else 1 for c in body]
        return Segmentation(
            api_messaging.SMS_ENCODING_GSM7, _split(widths, GSM7_SINGLE, GSM7_MULTI), sum(widths)
        )
    widths = [2 if ord(c) > 0xFFFF else 1 for c in body]
    return Segmentation(
        api_messaging.SMS_ENCODING_UCS2, _split(widths, UCS2_SINGLE, UCS2_MULTI), sum(widths)
    )


def keyword(body: str) -> Keyword | None:
    """The keyword the whole body is (any case, spaces around ignored), or None."""
    return _KEYWORDS.get(body.strip().upper())


def check_body(body: str) -> None:
    """Refuse an empty body or one over 1,600 characters (INVALID_ARGUMENT)."""
    if not body or not body.strip():
        raise InvalidArgument(
            "the message body is empty; write 1 to 1,600 characters",
            error_id="empty-body",
            details={"field": "body"},
        )
    if len(body) > MAX_BODY_CHARS:
        raise InvalidArgument(
            f"the message body has {len(body)} characters; the limit is {MAX_BODY_CHARS}: "
            "shorten it or send it as several messages",
            error_id="body-too-long",
            details={"field": "body"},
        )


def check_help_text(text: str) -> None:
    """Refuse a help text over 320 characters (INVALID_ARGUMENT invalid-help-text)."""
    if len(text) > MAX_HELP_CHARS:
        raise InvalidArgument(
            f"help_text must be at most {MAX_HELP_CHARS} characters (it is sent as an SMS)",
            error_id="invalid-help-text",
            details={"field": "help_text"},
        )

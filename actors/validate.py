"""Argument checks shared by the API edge and the domain actors.

Each request's checks run in one place: a field is checked either at the edge (what only
the edge sees: call ids, media offers) or in the actor that owns the request (everything
the actor decides on, e.g. a call's destination), never both. Each check raises
:class:`fabric.errors.InvalidArgument` with a stable ``error_id`` and a message that says
what to send instead. The message never echoes the bad value back (it
may be a phone number or hostile text); it names the field and the accepted form.
"""

from __future__ import annotations

import re

from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import InvalidArgument
from fabric.media.protoconv import check_rtp_address

EXTENSION_RE = re.compile(r"[0-9]{2,8}")
E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
GROUP_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
CALL_ID_RE = re.compile(r"[0-9a-f]{32}")
MIN_RING_S = 5
MAX_RING_S = 120
DEFAULT_RING_S = 20
MAX_NAME = 100
MAX_MEDIA_KEY = 64
MAX_SUITE = 64


def extension(value: str, field: str = "extension") -> str:
    """An extension: 2 to 8 digits."""
    if not EXTENSION_RE.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be 2 to 8 digits, e.g. '101'", error_id="invalid-extension",
            details={"field": field},
        )
    return value


def e164(value: str, field: str = "number") -> str:
    """A phone number in E.164 form."""
    if not E164_RE.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be an E.164 number: '+', then 8 to 15 digits (country code first)",
            error_id="invalid-number",
            details={"field": field},
        )
    return value


def object_id(value: str, field: str) -> str:
    """A fabric-made id (tenant, user, key): 1-64 of lowercase letters, digits and '-'."""
    if not ID_RE.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be the id the fabric returned (lowercase letters, digits, '-')",
            error_id=f"invalid-{field.replace('_', '-')}",
            details={"field": field},
        )
    return value


def group_id(value: str, field: str = "group_id") -> str:
    """A ring group id: 1-32 of lowercase letters, digits and '-'."""
    if not GROUP_RE.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be 1-32 lowercase letters, digits or '-', e.g. 'sales'",
            error_id="invalid-ring-group",
            details={"field": field},
        )
    return value


def call_id(value: str) -> str:
    """A call id as returned by Dial: 32 lowercase hex digits."""
    if not CALL_ID_RE.fullmatch(value):
        raise InvalidArgument(
            "call_id must be the 32-hex-digit id returned by Dial", error_id="invalid-call-id",
            details={"field": "call_id"},
        )
    return value


def name(value: str, field: str = "name") -> str:
    """A display name: 1-100 printable characters."""
    if not value.strip() or len(value) > MAX_NAME or not value.isprintable():
        raise InvalidArgument(
            f"{field} must be 1 to {MAX_NAME} printable characters", error_id="invalid-name",
            details={"field": field},
        )
    return value


def ring_timeout(value: int, field: str = "ring_timeout_s") -> int:
    """A ring timeout in seconds: 0 (the default of 20) or 5-120."""
    if value == 0:
        return DEFAULT_RING_S
    if not MIN_RING_S <= value <= MAX_RING_S:
        raise InvalidArgument(
            f"{field} must be 0 (default {DEFAULT_RING_S}) or {MIN_RING_S} to {MAX_RING_S}",
            error_id="invalid-ring-timeout",
            details={"field": field},
        )
    return value


def destination(to: api_common.Destination, field: str = "to") -> str:
    """A call's destination: a well-formed extension or E.164 number; returns which
    (``"extension"`` or ``"number"``)."""
    which = to.WhichOneof("target")
    if which == "extension":
        extension(to.extension, f"{field}.extension")
    elif which == "number":
        e164(to.number, f"{field}.number")
    else:
        raise InvalidArgument(
            f"{field} needs an extension or a number", error_id="missing-destination",
            details={"field": field},
        )
    return which


def media_offer(offer: api_common.MediaOffer) -> None:
    """An SRTP offer: a printable suite name, a master key and salt of sane size, and an
    RTP address that is unset or a unicast IP literal with a port."""
    if not offer.suite or len(offer.suite) > MAX_SUITE or not offer.suite.isprintable():
        raise InvalidArgument(
            "media.suite must name an SRTP suite, e.g. 'AES_CM_128_HMAC_SHA1_80'",
            error_id="invalid-media-offer",
            details={"field": "media.suite"},
        )
    if not 16 <= len(offer.key) <= MAX_MEDIA_KEY:
        raise InvalidArgument(
            f"media.key must be the SRTP master key and salt (16 to {MAX_MEDIA_KEY} bytes)",
            error_id="invalid-media-offer",
            details={"field": "media.key"},
        )
    check_rtp_address(offer.rtp_host, offer.rtp_port)

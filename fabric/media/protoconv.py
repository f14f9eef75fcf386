"""Conversion between the API's media messages and the media plane's values.

On the wire (``fabric.api.v1.MediaOffer`` / ``MediaAnswer``) the SDES key is one ``bytes``
field holding master key || master salt, as in an SDES ``inline:`` value; the suite fixes
where the key ends. Here they are split, checked, and joined again.
"""

from __future__ import annotations

import ipaddress

from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import InvalidArgument
from fabric.media.suites import check_key_material, parse_suite
from fabric.media.types import MediaAnswer, MediaOffer


def offer_from_proto(message: api_common.MediaOffer) -> MediaOffer:
    """A checked :class:`MediaOffer` from the API message (``InvalidArgument`` if malformed)."""
    suite = parse_suite(message.suite)
    key, salt = message.key[: suite.key_length], message.key[suite.key_length :]
    check_key_material(suite, key, salt)
    check_rtp_address(message.rtp_host, message.rtp_port)
    return MediaOffer(suite.value, key, salt, message.rtp_host, message.rtp_port)


def check_rtp_address(host: str, port: int) -> None:
    """An offer's RTP address: both unset, or a unicast IP literal and a port 1-65535."""
    if not host and not port:
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None or ip.is_unspecified or ip.is_multicast or not 0 < port < 65536:
        raise InvalidArgument(
            "media.rtp_host must be the unicast IP address (not a name) your phone receives "
            "RTP on and media.rtp_port its UDP port (1-65535); leave both unset to be learnt "
            "from your first packet",
            error_id="invalid-media-offer",
            details={"field": "media.rtp_host" if ip is None or ip.is_unspecified
                     or ip.is_multicast else "media.rtp_port"},
        )


def offer_to_proto(offer: MediaOffer) -> api_common.MediaOffer:
    """The API message for an offer (used by the SDK)."""
    return api_common.MediaOffer(
        suite=offer.suite,
        key=offer.master_key + offer.master_salt,
        rtp_host=offer.rtp_host,
        rtp_port=offer.rtp_port,
    )


def answer_to_proto(answer: MediaAnswer) -> api_common.MediaAnswer:
    """The API message for the relay's answer (sent in the leg's call events)."""
    return api_common.MediaAnswer(
        relay_host=answer.relay_host,
        relay_port=answer.relay_port,
        suite=answer.suite,
        key=answer.master_key + answer.master_salt,
    )


def answer_from_proto(message: api_common.MediaAnswer) -> MediaAnswer:
    """A checked :class:`MediaAnswer` from the API message (used by the SDK)."""
    suite = parse_suite(message.suite)
    key, salt = message.key[: suite.key_length], message.key[suite.key_length :]
    check_key_material(suite, key, salt)
    return MediaAnswer(message.relay_host, message.relay_port, suite.value, key, salt)

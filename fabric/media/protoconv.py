"""Conversion between the API's media messages and the media plane's values.

On the wire (``fabric.api.v1.MediaOffer`` / ``MediaAnswer``) the SDES key is one ``bytes``
field holding master key || master salt, as in an SDES ``inline:`` value; the suite fixes
where the key ends. Here they are split, checked, and joined again.
"""

from __future__ import annotations

from fabric.api.v1 import common_pb2 as api_common
from fabric.media.suites import check_key_material, parse_suite
from fabric.media.types import MediaAnswer, MediaOffer


def offer_from_proto(message: api_common.MediaOffer) -> MediaOffer:
    """A checked :class:`MediaOffer` from the API message (``InvalidArgument`` if malformed)."""
    suite = parse_suite(message.suite)
    key, salt = message.key[: suite.key_length], message.key[suite.key_length :]
    check_key_material(suite, key, salt)
    return MediaOffer(suite.value, key, salt)


def offer_to_proto(offer: MediaOffer) -> api_common.MediaOffer:
    """The API message for an offer (used by the SDK)."""
    return api_common.MediaOffer(suite=offer.suite, key=offer.master_key + offer.master_salt)


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

"""API message <-> media value conversion."""

from __future__ import annotations

import pytest

from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import InvalidArgument
from fabric.media.protoconv import (
    answer_from_proto,
    answer_to_proto,
    offer_from_proto,
    offer_to_proto,
)
from fabric.media.suites import SrtpSuite, new_key_material
from fabric.media.types import MediaAnswer, MediaOffer


@pytest.mark.parametrize("suite", list(SrtpSuite))
def test_media_offer_and_answer_roundtrip(suite: SrtpSuite) -> None:
    offer = MediaOffer(suite.value, *new_key_material(suite))
    assert offer_from_proto(offer_to_proto(offer)) == offer
    answer = MediaAnswer("127.0.0.1", 30002, suite.value, *new_key_material(suite))
    assert answer_from_proto(answer_to_proto(answer)) == answer


def test_media_proto_offer_with_short_key_is_refused() -> None:
    with pytest.raises(InvalidArgument) as info:
        offer_from_proto(api_common.MediaOffer(suite="AEAD_AES_256_GCM", key=b"x" * 30))
    assert info.value.error_id == "media-bad-key-length"

"""The softphone's DTMF (fabric/client/phone_media.py): RFC 4733 telephone-events on payload
type 101 in the leg's own SRTP stream, decrypted with the leg's key and read back by the
relay's detector as exactly the keys pressed; audio timestamps move on past each key."""

from __future__ import annotations

import pytest

from fabric.client.phone_media import SoftphoneMedia
from fabric.media.dtmf import DtmfDetector
from fabric.media.feature_types import DTMF_PAYLOAD_TYPE
from fabric.media.legs import srtp_session
from fabric.media.rtp import PCMU_PAYLOAD_TYPE, parse_rtp


async def test_keys_arrive_once_each_in_order_with_their_duration() -> None:
    phone = SoftphoneMedia()
    sent: list[bytes] = []
    phone.send_raw = sent.append  # type: ignore[method-assign]
    rx = srtp_session(phone.suite, phone._key, phone._salt, inbound=True)
    ts_before = phone._ts
    packets = await phone.send_dtmf("1#", duration_ms=100, gap_ms=0)
    assert packets == len(sent) == 2 * (5 + 3)
    detector = DtmfDetector()
    keys = []
    seqs = []
    for packet in sent:
        header, payload = parse_rtp(bytes(rx.unprotect(packet)))
        assert header.payload_type == DTMF_PAYLOAD_TYPE and header.ssrc == phone.ssrc
        seqs.append(header.sequence)
        keys += detector.feed(payload, header.timestamp)
    assert [(k.digit, k.duration_ms) for k in keys] == [("1", 100), ("#", 100)]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False))
    assert (phone._ts - ts_before) & 0xFFFFFFFF == 2 * 800  # the audio clock moved on
    audio = phone.protect_frame(bytes(160))
    assert parse_rtp(bytes(rx.unprotect(audio)))[0].payload_type == PCMU_PAYLOAD_TYPE


async def test_a_key_that_is_not_dtmf_is_refused() -> None:
    phone = SoftphoneMedia()
    phone.send_raw = lambda data: None  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="not a DTMF key"):
        await phone.send_dtmf("x")

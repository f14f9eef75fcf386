"""Carrier rules of SMS: segment counting (GSM-7 and UCS-2) and the keywords."""

from __future__ import annotations

import pytest

from actors.sms import rules
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.errors import InvalidArgument

GSM7 = api_messaging.SMS_ENCODING_GSM7
UCS2 = api_messaging.SMS_ENCODING_UCS2


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("hello", GSM7, 1),
        ("a" * 160, GSM7, 1),
        ("a" * 161, GSM7, 2),  # split: 153 per segment
        ("a" * 306, GSM7, 2),
        ("a" * 307, GSM7, 3),
        ("a" * 1600, GSM7, 11),  # ceil(1600 / 153)
        ("€" * 80, GSM7, 1),  # extension characters take two septets: 160
        ("€" * 81, GSM7, 2),
        ("a" * 152 + "€", GSM7, 1),  # 154 septets still fit one segment of 160
        ("a" * 159 + "{", GSM7, 2),  # 161 septets
        ("a" * 152 + "€" + "a" * 10, GSM7, 2),  # the escape pair is not split: 152 + 12
        ("Ça coûte 5 £ à Zürich", UCS2, 1),  # û is not in GSM-7
        ("é" * 160, GSM7, 1),  # é is in the basic table
        ("😀", UCS2, 1),
        ("😀" * 35, UCS2, 1),  # 70 UTF-16 units
        ("😀" * 36, UCS2, 2),  # 72 units: split at 67
        ("b" * 70 + "ж", UCS2, 2),
        ("ж" * 70, UCS2, 1),
        ("ж" * 67 * 3, UCS2, 3),
        ("ж" * 66 + "😀", UCS2, 1),  # 68 units: one segment of 70
        ("ж" * 66 + "😀" + "ж" * 4, UCS2, 2),  # the pair moves whole to segment 2
    ],
)
def test_segments(body: str, encoding: int, segments: int) -> None:
    seg = rules.segment(body)
    assert (seg.encoding, seg.segments) == (encoding, segments)


def test_units_counted() -> None:
    assert rules.segment("a€").units == 3
    assert rules.segment("a😀").units == 3


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", rules.Keyword.STOP),
        ("stop", rules.Keyword.STOP),
        ("  Stop \n", rules.Keyword.STOP),
        ("StopAll", rules.Keyword.STOP),
        ("unsubscribe", rules.Keyword.STOP),
        ("CANCEL", rules.Keyword.STOP),
        ("end", rules.Keyword.STOP),
        ("Quit", rules.Keyword.STOP),
        ("START", rules.Keyword.START),
        ("unstop", rules.Keyword.START),
        ("help", rules.Keyword.HELP),
        ("please stop", None),  # the whole body only
        ("STOP!", None),
        ("stopp", None),
        ("hello", None),
        ("", None),
    ],
)
def test_keywords(body: str, keyword: rules.Keyword | None) -> None:
    assert rules.keyword(body) is keyword


@pytest.mark.parametrize(("body", "error_id"), [("", "empty-body"), ("   ", "empty-body"),
                                                  ("x" * 1601, "body-too-long")])
def test_bad_bodies(body: str, error_id: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        rules.check_body(body)
    assert exc.value.error_id == error_id


def test_body_limits_inclusive() -> None:
    rules.check_body("x")
    rules.check_body("x" * 1600)
    rules.check_body("😀" * 1600)  # characters, not bytes


def test_help_text_limit() -> None:
    rules.check_help_text("h" * 320)
    with pytest.raises(InvalidArgument) as exc:
        rules.check_help_text("h" * 321)
    assert exc.value.error_id == "invalid-help-text"

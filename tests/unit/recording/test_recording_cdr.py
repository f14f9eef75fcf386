"""The CDR's call recording fields (issue 11): accepted shapes, refusals, round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fabric.cdr import Cdr
from fabric.errors import InvalidArgument


def test_a_recorded_call_keeps_who_asked_when_and_the_ids(make_cdr):
    base = make_cdr()
    cdr = make_cdr(
        recorded=True,
        recording_consent="call-request",
        recording_requested_by="u-1a2b3c",
        recording_announced_at=base.answer_time + timedelta(seconds=2),
        recording_ids=["20260301-ab-1"],
        recording_objection="callee",
    )
    assert cdr.validate() is cdr
    assert cdr.recording_ids == ("20260301-ab-1",)
    assert Cdr.from_dict(cdr.to_dict()) == cdr


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"recording_ids": ["x-1"]}, "recording_ids"),
        ({"recording_requested_by": "u-1"}, "recording_requested_by"),
        ({"recording_objection": "callee"}, "recording_objection"),
    ],
)
def test_an_unrecorded_call_has_no_recording_details(make_cdr, overrides, field):
    with pytest.raises(InvalidArgument) as info:
        make_cdr(**overrides).validate()
    assert info.value.error_id == "cdr-invalid-recording"
    assert info.value.details["field"] == field


def test_an_announcement_outside_the_call_or_a_bad_objection_is_refused(make_cdr):
    base = make_cdr()
    recorded = {"recorded": True, "recording_consent": "extension-policy"}
    with pytest.raises(InvalidArgument, match="recording_announced_at"):
        make_cdr(**recorded, recording_announced_at=base.end_time + timedelta(seconds=1)).validate()
    with pytest.raises(InvalidArgument, match="recording_objection"):
        make_cdr(**recorded, recording_objection="+15550100123").validate()
    with pytest.raises(InvalidArgument, match="recording_ids"):
        make_cdr(**recorded, recording_ids=["bad id!"]).validate()

"""The CDR record: validation refuses malformed records with a precise error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fabric.cdr import Cdr, Direction, Disposition
from fabric.errors import InvalidArgument


def test_valid_record_passes_and_roundtrips_through_dict(make_cdr):
    cdr = make_cdr(node_ids=["n1", "n2"])
    assert cdr.validate() is cdr
    assert cdr.node_ids == ("n1", "n2")
    assert Cdr.from_dict(cdr.to_dict()) == cdr


def test_times_are_kept_to_the_millisecond(make_cdr):
    start = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    cdr = make_cdr(start_time=start)
    assert cdr.start_time.microsecond == 123000


def test_string_enums_are_coerced(make_cdr):
    cdr = make_cdr(direction="inbound", disposition="answered")
    assert cdr.direction is Direction.INBOUND
    assert cdr.disposition is Disposition.ANSWERED


@pytest.mark.parametrize(
    ("overrides", "error_id", "field"),
    [
        ({"call_id": ""}, "cdr-missing-id", "call_id"),
        ({"tenant_id": ""}, "cdr-missing-id", "tenant_id"),
        ({"tenant_id": "bad id with spaces"}, "cdr-invalid-id", "tenant_id"),
        ({"from_number": "14155550100"}, "cdr-invalid-number", "from_number"),
        ({"to_number": "+1234"}, "cdr-invalid-number", "to_number"),
        ({"to_number": "+1234567890123456"}, "cdr-invalid-number", "to_number"),
        ({"to_number": "1"}, "cdr-invalid-number", "to_number"),
        ({"to_number": "+0123456789"}, "cdr-invalid-number", "to_number"),
        ({"direction": "sideways"}, "cdr-invalid-direction", "direction"),
        ({"disposition": "maybe"}, "cdr-invalid-disposition", "disposition"),
        ({"hangup_cause": "Normal Clearing!"}, "cdr-invalid-hangup-cause", "hangup_cause"),
        ({"duration_s": -1}, "cdr-invalid-duration", "duration_s"),
        ({"duration_s": 1000}, "cdr-invalid-duration", "duration_s"),
        ({"billable_s": 70}, "cdr-invalid-duration", "billable_s"),
        ({"recorded": True, "recording_consent": ""}, "cdr-invalid-recording", "recording_consent"),
        ({"recording_consent": "announcement"}, "cdr-invalid-recording", "recording_consent"),
        ({"packets_lost": -3}, "cdr-invalid-media-stats", "packets_lost"),
        ({"jitter_ms": float("nan")}, "cdr-invalid-media-stats", "jitter_ms"),
        ({"node_ids": [""]}, "cdr-invalid-node-ids", "node_ids"),
        ({"answer_time": None}, "cdr-inconsistent", "answer_time"),
    ],
)
def test_malformed_records_are_refused(make_cdr, overrides, error_id, field):
    cdr = make_cdr(**overrides)
    with pytest.raises(InvalidArgument) as info:
        cdr.validate()
    assert info.value.error_id == error_id
    assert info.value.details["field"] == field
    assert field in info.value.message


def test_end_before_start_is_refused(make_cdr):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cdr = make_cdr(
        start_time=start,
        answer_time=None,
        disposition=Disposition.NO_ANSWER,
        end_time=start - timedelta(seconds=1),
        duration_s=0,
        billable_s=0,
    )
    with pytest.raises(InvalidArgument) as info:
        cdr.validate()
    assert info.value.error_id == "cdr-end-before-start"


def test_naive_or_non_utc_times_are_refused(make_cdr):
    with pytest.raises(InvalidArgument, match="start_time"):
        make_cdr(start_time=datetime(2026, 1, 1)).validate()
    plus_two = timezone(timedelta(hours=2))
    with pytest.raises(InvalidArgument, match="start_time"):
        make_cdr(start_time=datetime(2026, 1, 1, tzinfo=plus_two)).validate()


def test_extension_and_recorded_call_are_accepted(make_cdr):
    cdr = make_cdr(
        from_number="101",
        to_number="20045",
        direction=Direction.INTERNAL,
        recorded=True,
        recording_consent="announcement",
    )
    assert cdr.validate() is cdr
    assert (cdr.from_number, cdr.to_number) == ("101", "20045")
    assert cdr.recorded and cdr.recording_consent == "announcement"
    assert Cdr.from_dict(cdr.to_dict()) == cdr
    # the boundaries of an extension: 2 and 8 digits pass, 1 and 9 are refused
    for accepted in ("10", "12345678"):
        assert make_cdr(to_number=accepted).validate().to_number == accepted
    for refused in ("1", "123456789"):
        with pytest.raises(InvalidArgument) as info:
            make_cdr(to_number=refused).validate()
        assert info.value.error_id == "cdr-invalid-number"


def test_error_message_does_not_echo_the_number(make_cdr):
    with pytest.raises(InvalidArgument) as info:
        make_cdr(to_number="+99999").validate()
    assert "+99999" not in str(info.value)

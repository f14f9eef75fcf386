"""The check that no metric label carries a phone number or an extension."""

from __future__ import annotations

import pytest

from fabric.testing import number_shaped_labels

CLEAN = """\
# HELP fabric_calls_started_total Calls started
# TYPE fabric_calls_started_total counter
fabric_calls_started_total 101.0
fabric_calls_started_created 1.7000001019e+09
# TYPE fabric_calls_ended_total counter
fabric_calls_ended_total{reason="completed"} 4155550100.0
fabric_calls_ended_created{reason="completed"} 1.700000101e+09
# TYPE fabric_media_sessions_active gauge
fabric_media_sessions_active{relay="0"} 12.0
# TYPE fabric_call_dial_to_ringing_seconds histogram
fabric_call_dial_to_ringing_seconds_bucket{le="0.101"} 1.0
fabric_call_dial_to_ringing_seconds_bucket{le="+Inf"} 1.0
fabric_call_dial_to_ringing_seconds_count 1.0
fabric_call_dial_to_ringing_seconds_sum 0.101
# TYPE fabric_grpc_requests_total counter
fabric_grpc_requests_total{code="OK",method="/fabric.api.v1.Calls/Dial"} 3.0
"""


def test_counts_timestamps_and_bucket_bounds_are_not_labels() -> None:
    assert number_shaped_labels(CLEAN) == []


@pytest.mark.parametrize(
    "value",
    ["+4930123456789", "+14155550100", "4155550100", "5550100", "tenant-4155550100",
     "to:+442071838750", "101", "20045", "12345678"],
)
def test_a_number_or_an_extension_in_a_label_is_found(value: str) -> None:
    text = CLEAN + f'# TYPE fabric_x_total counter\nfabric_x_total{{who="{value}"}} 1.0\n'
    assert number_shaped_labels(text) == [("fabric_x_total", "who", value)]


@pytest.mark.parametrize("value", ["0", "1", "v1", "no-carrier-trunk", "relay-2", "+12"])
def test_short_or_named_values_pass(value: str) -> None:
    text = f'# TYPE fabric_x_total counter\nfabric_x_total{{who="{value}"}} 1.0\n'
    assert number_shaped_labels(text) == []


def test_bucket_bounds_key_versions_and_host_ids_are_exempt() -> None:
    text = (
        '# TYPE fabric_y_total counter\n'
        'fabric_y_total{host="fabric-12345678-h0.0",version="12",node="10"} 1.0\n'
        'fabric_y_total{host="fabric-12345678-h0.0",version="12",node="10",ext="42"} 1.0\n'
    )
    assert number_shaped_labels(text) == [("fabric_y_total", "ext", "42")]

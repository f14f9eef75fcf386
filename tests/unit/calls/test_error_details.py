"""google.rpc.Status details of an error (fabric/edge/status.py), and the SDK reading them."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from fabric.edge.status import DETAILS_KEY, DOMAIN, error_from_rpc, rich_status
from fabric.errors import InvalidArgument, NotFound, PermissionDenied, ResourceExhausted


def _unpacked(status: object, kind: type) -> list:  # type: ignore[type-arg]
    out = []
    for item in status.details:  # type: ignore[attr-defined]
        message = kind()
        if item.Unpack(message):
            out.append(message)
    return out


def test_invalid_argument_carries_error_info_and_a_field_violation() -> None:
    exc = InvalidArgument("media.key must be 16 to 64 bytes", error_id="invalid-media-offer",
                          details={"field": "media.key"})
    status = rich_status(exc)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == "invalid-media-offer: media.key must be 16 to 64 bytes"
    [info] = _unpacked(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("invalid-media-offer", DOMAIN)
    [bad] = _unpacked(status, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "media.key"
    assert not _unpacked(status, error_details_pb2.RetryInfo)  # retrying will not help


def test_retry_info_only_where_a_retry_helps() -> None:
    status = rich_status(ResourceExhausted("slow down", error_id="rate-limited-dial",
                                           details={"retry_after_s": 2.5}))
    [retry] = _unpacked(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 2500
    assert not _unpacked(rich_status(NotFound("no such call")), error_details_pb2.RetryInfo)


def test_the_sdk_reads_the_details_back() -> None:
    exc = PermissionDenied("not this method", error_id="role-not-allowed",
                           details={"required_roles": "owner, admin"})
    status = rich_status(exc)
    back = error_from_rpc(grpc.StatusCode.PERMISSION_DENIED, status.message,
                          [("other", "x"), (DETAILS_KEY, status.SerializeToString())])
    assert isinstance(back, PermissionDenied)
    assert back.error_id == "role-not-allowed"
    assert back.details["required_roles"] == "owner, admin"
    retry = rich_status(ResourceExhausted("wait", details={"retry_after_s": 1.5}))
    again = error_from_rpc(grpc.StatusCode.RESOURCE_EXHAUSTED, retry.message,
                           [(DETAILS_KEY, retry.SerializeToString())])
    assert again.details["retry_after_s"] == 1.5
    plain = error_from_rpc(grpc.StatusCode.NOT_FOUND, "call-not-found: no such call", None)
    assert plain.error_id == "call-not-found"

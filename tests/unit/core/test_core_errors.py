import pickle

import grpc
import pytest

from fabric import errors


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
def test_error_maps_to_status_and_survives_pickle(cls: type[errors.FabricError], code) -> None:
    err = cls("field 'to' must be E.164", error_id="bad-to", details={"field": "to"})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is cls
    assert (copy.error_id, copy.message, copy.details) == ("bad-to", err.message, {"field": "to"})
    status, detail = errors.to_grpc_status(copy)
    assert status == code
    assert detail.startswith("bad-to: ")


def test_default_error_id_and_retryable_flags() -> None:
    assert errors.NotFound("x").error_id == "not-found"
    assert errors.Unavailable("x").retryable
    assert not errors.InvalidArgument("x").retryable

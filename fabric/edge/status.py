"""FabricError -> gRPC status, once, at the edge; and back again in the client SDK.

The status details read ``<error_id>: <message>`` and the trailing metadata carries
``fabric-error-id`` so clients can branch on the id without parsing text. The same error
travels as a ``google.rpc.Status`` (the ``grpc-status-details-bin`` trailer, read with
grpcio-status or any gRPC library's rich-error support) with these details:

- ``google.rpc.ErrorInfo``: ``reason`` = the error id, ``domain`` = :data:`DOMAIN`,
  ``metadata`` = the error's scalar details (e.g. ``required_roles``);
- ``google.rpc.BadRequest`` for INVALID_ARGUMENT: one field violation naming the field
  (``media.key``, ``to.number``; empty when the request as a whole is wrong);
- ``google.rpc.RetryInfo`` when a retry can help (RESOURCE_EXHAUSTED, UNAVAILABLE,
  DEADLINE_EXCEEDED): the delay to wait first. Errors that are
not FabricErrors are bugs: the caller gets INTERNAL with a reference the operator can find
in the log, never the exception text (it may hold user data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from fabric import errors

ERROR_ID_KEY = "fabric-error-id"
DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "callfabric.api"
"""ErrorInfo.domain of every error the fabric reports."""
DEFAULT_RETRY_S = 1.0

_BY_CODE: dict[grpc.StatusCode, type[errors.FabricError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.AlreadyExists,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.FailedPrecondition,
        errors.ResourceExhausted,
        errors.Unavailable,
        errors.DeadlineExceeded,
        errors.Internal,
    )
}


def error_from_status(code: grpc.StatusCode, details: str | None) -> errors.FabricError:
    """Rebuild the FabricError a server raised from its status code and details."""
    cls = _BY_CODE.get(code, errors.Internal)
    text = details or ""
    error_id, sep, message = text.partition(": ")
    if not sep or " " in error_id:
        error_id, message = cls.default_error_id, text
    return cls(message, error_id=error_id)


def _packed(message: Any) -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(message)
    return out


def rich_status(exc: errors.FabricError) -> status_pb2.Status:
    """The ``google.rpc.Status`` (with ErrorInfo, BadRequest, RetryInfo) of an error."""
    code, text = errors.to_grpc_status(exc)
    info = error_details_pb2.ErrorInfo(reason=exc.error_id, domain=DOMAIN)
    for key, value in exc.details.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            info.metadata[key] = f"{value:g}" if isinstance(value, float) else str(value)
    details = [_packed(info)]
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=str(exc.details.get("field", "")), description=exc.message
        )
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    if exc.retryable:
        wait = exc.details.get("retry_after_s", DEFAULT_RETRY_S)
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(float(wait) * 1000))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=code.value[0], message=text, details=details)


def error_from_rpc(
    code: grpc.StatusCode, details: str | None, trailers: Sequence[Any] | None
) -> errors.FabricError:
    """Rebuild the FabricError from a failed call, reading its rich status when present:
    the error id from ErrorInfo, ``field`` from BadRequest, ``retry_after_s`` from
    RetryInfo and ErrorInfo's metadata into ``details``."""
    error = error_from_status(code, details)
    raw = next((v for k, v in trailers or () if k == DETAILS_KEY), None)
    if not isinstance(raw, bytes):
        return error
    status = status_pb2.Status.FromString(raw)
    for item in status.details:
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        if item.Unpack(info):
            error.error_id = info.reason or error.error_id
            error.details.update(info.metadata)
        elif item.Unpack(bad) and bad.field_violations:
            error.details["field"] = bad.field_violations[0].field
        elif item.Unpack(retry):
            error.details["retry_after_s"] = retry.retry_delay.ToMilliseconds() / 1000
    return error

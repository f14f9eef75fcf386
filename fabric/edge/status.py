"""FabricError -> gRPC status, once, at the edge; and back again in the client SDK.

The status details read ``<error_id>: <message>`` and the trailing metadata carries
``fabric-error-id`` so clients can branch on the id without parsing text. Errors that are
not FabricErrors are bugs: the caller gets INTERNAL with a reference the operator can find
in the log, never the exception text (it may hold user data).
"""

from __future__ import annotations

import grpc

from fabric import errors

ERROR_ID_KEY = "fabric-error-id"

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

"""One error catalog for the whole fabric.

Every error a caller can see is a :class:`FabricError` subclass that carries a gRPC status
code, a stable ``error_id`` slug and a ``details`` mapping. Errors are plain picklable
exceptions so they survive a Ray method call, and they are mapped onto gRPC status once,
at the API edge (:func:`to_grpc_status`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc


class FabricError(Exception):
    """Base of every error the fabric reports to a caller."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_error_id: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        error_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id or self.default_error_id
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with keyword arguments intact (Exception's default drops them)."""
        return (_rebuild, (type(self), self.message, self.error_id, self.details))

    def __str__(self) -> str:
        return f"[{self.error_id}] {self.message}"


def _rebuild(
    cls: type[FabricError], message: str, error_id: str, details: dict[str, Any]
) -> FabricError:
    return cls(message, error_id=error_id, details=details)


class InvalidArgument(FabricError):
    """The request is malformed; the message says which field and how to fix it."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_error_id = "invalid-argument"


class NotFound(FabricError):
    """The object does not exist, or belongs to another tenant (we never say which)."""

    code = grpc.StatusCode.NOT_FOUND
    default_error_id = "not-found"


class AlreadyExists(FabricError):
    """The object already exists."""

    code = grpc.StatusCode.ALREADY_EXISTS
    default_error_id = "already-exists"


class PermissionDenied(FabricError):
    """The caller is known but its role does not allow this."""

    code = grpc.StatusCode.PERMISSION_DENIED
    default_error_id = "permission-denied"


class Unauthenticated(FabricError):
    """No credentials, or credentials that do not verify."""

    code = grpc.StatusCode.UNAUTHENTICATED
    default_error_id = "unauthenticated"


class FailedPrecondition(FabricError):
    """The object is not in a state that allows this (e.g. answering an ended call)."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    default_error_id = "failed-precondition"


class ResourceExhausted(FabricError):
    """A bound was reached (a full mailbox, a port range used up); retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_error_id = "resource-exhausted"
    retryable = True


class Unavailable(FabricError):
    """A dependency or an actor's host is down; the request may be retried."""

    code = grpc.StatusCode.UNAVAILABLE
    default_error_id = "unavailable"
    retryable = True


class DeadlineExceeded(FabricError):
    """The deadline passed before an answer came; the request may be retried."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_error_id = "deadline-exceeded"
    retryable = True


class Internal(FabricError):
    """A bug on our side; the message carries no user data."""

    code = grpc.StatusCode.INTERNAL
    default_error_id = "internal"


def to_grpc_status(error: FabricError) -> tuple[grpc.StatusCode, str]:
    """Map an error onto a gRPC status code and a detail string that names its error id."""
    return error.code, f"{error.error_id}: {error.message}"

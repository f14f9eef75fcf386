"""The vault's errors: each a :class:`fabric.errors.FabricError` with a stable error id.

The vault never returns bytes it could not authenticate: every failure to unwrap a key or to
open a ciphertext raises one of these, and the message says what happened without echoing
any key material or plaintext.
"""

from __future__ import annotations

import grpc

from fabric.errors import FabricError, FailedPrecondition, NotFound


class VaultTampered(FabricError):
    """A ciphertext or wrapped key fails authentication: it was changed or damaged."""

    code = grpc.StatusCode.DATA_LOSS
    default_error_id = "vault-tampered"


class VaultContextMismatch(FabricError):
    """A sealed blob was opened as another tenant's, class's or object's (moved or copied)."""

    code = grpc.StatusCode.DATA_LOSS
    default_error_id = "vault-context-mismatch"


class VaultKeyDestroyed(NotFound):
    """The key that sealed this data was destroyed (crypto-shredded): it is gone for good."""

    default_error_id = "vault-key-destroyed"


class VaultKeyVersionMissing(FailedPrecondition):
    """A key version needed to unwrap is not available (retired before everything was
    re-wrapped, or a key file from another installation)."""

    default_error_id = "vault-key-version-missing"

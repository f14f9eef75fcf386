"""The bootstrap step of a new fabric: from the operator token, a named carrier-admin.

The operator token file (``api.operator_token_file``) is the bootstrap credential only
(``api.operator_token_bootstrap_only``, on by default): it creates, lists and revokes named
operators, nothing else. :func:`create_carrier_admin` uses it once to make a carrier-admin
(an API key ``fk_carrier.<key id>.<secret>``) for tenant work; :func:`ensure_carrier_admin`
keeps that key in a private file (mode 0600) and makes a new one only when the stored one
no longer works (revoked, or the fabric's data was wiped). ``make up`` does this for the
local user, and the harnesses of the tests do it for theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.client.client import FabricClient
from fabric.errors import FabricError

CARRIER_ADMIN_KEY_FILE = "carrier-admin.key"
"""Where ``make up`` keeps the local carrier-admin's key: beside the operator token."""
_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def carrier_admin_key_file(operator_token_file: Path) -> Path:
    """The carrier-admin key file that goes with an operator token file."""
    return operator_token_file.with_name(CARRIER_ADMIN_KEY_FILE)


async def create_carrier_admin(client: FabricClient, name: str) -> tuple[str, str]:
    """Make a carrier-admin named ``name`` with ``client``'s credential (the operator
    token, or another carrier-admin's key); return (operator id, API key)."""
    made = await client.call(
        audit_pb2_grpc.OperatorsStub(client.channel).CreateOperator,
        api_audit.CreateOperatorRequest(name=name, role=api_audit.OPERATOR_ROLE_CARRIER_ADMIN))
    return made.operator.operator_id, made.api_key


async def new_carrier_admin_key(
    target: str, operator_token: str, *, ca_file: Path | None, name: str
) -> str:
    """A new carrier-admin's key, made with the operator token (a harness or benchmark
    that starts its own fabric)."""
    async with FabricClient(target, operator_token, ca_file=ca_file) as bootstrap:
        return (await create_carrier_admin(bootstrap, name))[1]


async def _works(client: FabricClient) -> bool:
    """Whether ``client``'s key is a live carrier operator's."""
    try:
        await client.call(audit_pb2_grpc.OperatorsStub(client.channel).ListOperators,
                          api_audit.ListOperatorsRequest())
    except FabricError as exc:
        if exc.code in _REFUSED:
            return False
        raise
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


async def ensure_carrier_admin(
    target: str, operator_token: str, key_file: Path, *, ca_file: Path | None, name: str
) -> str:
    """The carrier-admin key kept in ``key_file``: reused while it works, else made anew
    with the operator token and written there (mode 0600)."""
    async with FabricClient(target, operator_token, ca_file=ca_file) as bootstrap:
        if key_file.is_file():
            key = key_file.read_text().strip()
            if key and await _works(bootstrap.with_token(key)):
                return key
        _, key = await create_carrier_admin(bootstrap, name)
    _write_private(key_file, key)
    return key

"""Named carrier operators: staff principals, each with their own API key.

The operator token file (``api.operator_token_file``) is the bootstrap credential: with it
(or as a carrier-admin) one creates operators, each with a role (carrier-admin, support,
billing) and an API key ``fk_carrier.<key id>.<secret>`` shown once. Every action is then
tied to a person in the audit log. The directory is one record in the process's state
store (kind ``operators``, key ``carrier``; sealed at rest like actor state, on both
backends), changed with compare-and-set; only the SHA-256 of each secret is kept.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import grpc

from actors import validate
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.edge.auth import Principal, Role, principal
from fabric.edge.credentials import ApiKeyParts, new_api_key
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from fabric.storage.base import StateStore

CARRIER_KEY_TENANT = "carrier"
"""The tenant part of an operator's key (tenant ids are ``t-...``, so none collides)."""
KIND, KEY = "operators", "carrier"
SAVE_ATTEMPTS = 5

_ROLES = {
    api_audit.OPERATOR_ROLE_CARRIER_ADMIN: Role.CARRIER_ADMIN,
    api_audit.OPERATOR_ROLE_SUPPORT: Role.SUPPORT,
    api_audit.OPERATOR_ROLE_BILLING: Role.BILLING,
}
_TO_PB = {v: k for k, v in _ROLES.items()}


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    """One operator as stored (the secret only as its hash, hex)."""

    operator_id: str
    name: str
    role: str
    key_id: str
    secret_hash: str
    created_by: str
    created_at_ms: int
    revoked: bool = False

    def to_pb(self) -> api_audit.Operator:
        """The public view (no hash)."""
        return api_audit.Operator(
            operator_id=self.operator_id, name=self.name, role=_TO_PB[Role(self.role)],
            key_id=self.key_id, created_by=self.created_by, created_at_ms=self.created_at_ms,
            revoked=self.revoked)


class OperatorDirectory:
    """The carrier's operators in a state store."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def all(self) -> list[OperatorRecord]:
        """Every operator, by creation."""
        stored = await self._store.load(KIND, KEY)
        if stored is None:
            return []
        return [OperatorRecord(**r) for r in json.loads(stored.data)]

    async def _change(
        self, change: Callable[[list[OperatorRecord]], list[OperatorRecord]]
    ) -> list[OperatorRecord]:
        for attempt in range(SAVE_ATTEMPTS):
            stored = await self._store.load(KIND, KEY)
            rows = [] if stored is None else [OperatorRecord(**r) for r in json.loads(stored.data)]
            new = change(rows)
            data = json.dumps([asdict(r) for r in new]).encode()
            try:
                await self._store.save(KIND, KEY, data, 0 if stored is None else stored.version)
            except FailedPrecondition:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
                continue
            return new
        raise AssertionError("unreachable")

    async def create(self, name: str, role: Role, created_by: str) -> tuple[OperatorRecord, str]:
        """A new operator and their API key (returned once)."""
        key_id, key, digest = new_api_key(CARRIER_KEY_TENANT)
        record = OperatorRecord(f"op-{secrets.token_hex(6)}", name, role.value, key_id,
                                digest.hex(), created_by, int(time.time() * 1000))
        await self._change(lambda rows: [*rows, record])
        return record, key

    async def revoke(self, operator_id: str) -> OperatorRecord:
        """Revoke for good; NOT_FOUND ``operator-not-found``."""
        rows = await self.all()
        if not any(r.operator_id == operator_id for r in rows):
            raise NotFound(f"no operator {operator_id}; `fabric operator list` lists them",
                           error_id="operator-not-found")
        new = await self._change(lambda rows: [
            replace(r, revoked=True) if r.operator_id == operator_id else r for r in rows])
        return next(r for r in new if r.operator_id == operator_id)

    async def verify(self, parts: ApiKeyParts) -> Principal:
        """The operator's principal; UNAUTHENTICATED for an unknown or revoked key."""
        for r in await self.all():
            if (r.key_id == parts.key_id and not r.revoked
                    and secrets.compare_digest(r.secret_hash, parts.secret_hash.hex())):
                return Principal(Role(r.role), "", r.operator_id, r.key_id)
        raise Unauthenticated("the API key is not valid", error_id="bad-credentials")


class OperatorsServicer(audit_pb2_grpc.OperatorsServicer):
    """CreateOperator, ListOperators, RevokeOperator (operator token or carrier-admin)."""

    def __init__(self, directory: OperatorDirectory) -> None:
        self.directory = directory

    async def CreateOperator(  # noqa: N802
        self, request: api_audit.CreateOperatorRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.CreateOperatorResponse:
        """A new operator; the key is in the answer only."""
        validate.name(request.name, "name")
        role = _ROLES.get(request.role)
        if role is None:
            raise InvalidArgument("role must be OPERATOR_ROLE_CARRIER_ADMIN, _SUPPORT or "
                                  "_BILLING", error_id="invalid-operator-role")
        record, key = await self.directory.create(request.name, role, principal().user_id)
        return api_audit.CreateOperatorResponse(operator=record.to_pb(), api_key=key)

    async def ListOperators(  # noqa: N802
        self, request: api_audit.ListOperatorsRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.ListOperatorsResponse:
        """Every operator (no secrets)."""
        return api_audit.ListOperatorsResponse(
            operators=[r.to_pb() for r in await self.directory.all()])

    async def RevokeOperator(  # noqa: N802
        self, request: api_audit.RevokeOperatorRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.Operator:
        """Revoke an operator's key."""
        return (await self.directory.revoke(request.operator_id)).to_pb()

"""From the edge's principal to the actors' ``Principal`` message, and key verification."""

from __future__ import annotations

from collections import OrderedDict

from actors.api.operators import CARRIER_KEY_TENANT, OperatorDirectory
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.clock import Clock, SystemClock
from fabric.edge.auth import KeyRejected, Principal, Role, principal
from fabric.edge.credentials import ApiKeyParts
from fabric.errors import NotFound, Unauthenticated

_TO_PB = {
    Role.OWNER: api_common.ROLE_OWNER,
    Role.ADMIN: api_common.ROLE_ADMIN,
    Role.MEMBER: api_common.ROLE_MEMBER,
    Role.OPERATOR: api_common.ROLE_OPERATOR,
    # named carrier staff act on actors as the carrier (the edge already checked the role)
    Role.CARRIER_ADMIN: api_common.ROLE_OPERATOR,
    Role.SUPPORT: api_common.ROLE_OPERATOR,
    Role.BILLING: api_common.ROLE_OPERATOR,
}
_FROM_PB = {
    api_common.ROLE_OWNER: Role.OWNER,
    api_common.ROLE_ADMIN: Role.ADMIN,
    api_common.ROLE_MEMBER: Role.MEMBER,
}
UNKNOWN_TENANTS_KEPT = 100_000


def caller() -> msg_common.Principal:
    """The current RPC's principal as an actor message."""
    who = principal()
    return msg_common.Principal(tenant_id=who.tenant_id, user_id=who.user_id, role=_TO_PB[who.role])


class KeyVerifier:
    """Verifies tenant API keys against the hash their TenantActor keeps.

    A tenant id that named no tenant is remembered for ``unknown_tenant_s``: keys made up
    for it are refused without activating a TenantActor (and reading storage) each time.
    Tenant ids are random and made at creation, so no real tenant can be in that list.
    A key of the carrier's staff (``fk_carrier...``) is checked against ``operators``.
    """

    def __init__(
        self, system: ActorSystem, clock: Clock | None = None, unknown_tenant_s: float = 30.0,
        operators: OperatorDirectory | None = None,
    ) -> None:
        self.system = system
        self.operators = operators
        self._clock = clock or SystemClock()
        self._unknown_s = unknown_tenant_s
        self._unknown: OrderedDict[str, float] = OrderedDict()

    async def __call__(self, parts: ApiKeyParts) -> Principal:
        """The key's principal; UNAUTHENTICATED / PERMISSION_DENIED (suspended tenant)."""
        if parts.tenant_id == CARRIER_KEY_TENANT:
            if self.operators is None:
                raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
            return await self.operators.verify(parts)
        now = self._clock.now()
        until = self._unknown.get(parts.tenant_id)
        if until is not None and until > now:
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        try:
            verdict = await self.system.ref(tenant_address(parts.tenant_id)).ask(
                msg_tenant.VerifyKey(key_id=parts.key_id, secret_hash=parts.secret_hash),
                reply=msg_tenant.KeyVerdict,
            )
        except NotFound:
            self._unknown.pop(parts.tenant_id, None)
            self._unknown[parts.tenant_id] = now + self._unknown_s
            while len(self._unknown) > UNKNOWN_TENANTS_KEPT:
                self._unknown.popitem(last=False)
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials") from None
        if verdict.status == api_carrier.TENANT_STATUS_SUSPENDED:
            raise KeyRejected("the tenant is suspended; ask the carrier")
        if verdict.status != api_carrier.TENANT_STATUS_ACTIVE or verdict.role not in _FROM_PB:
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        return Principal(_FROM_PB[verdict.role], parts.tenant_id, verdict.user_id, parts.key_id)

"""Who is calling, and may they call this method: credentials and the role table.

Every RPC (except health and reflection) goes through :class:`Authorizer.authorize`:

1. ``authorization: Bearer <token>`` is required (UNAUTHENTICATED otherwise);
2. the operator token gives the ``operator`` role; a tenant API key is verified by a
   callback (the TenantActor holds the hash) and gives the key's user and role;
3. the method's entry in the role table must list that role (PERMISSION_DENIED), and a
   method missing from the table is refused: a new RPC is closed until someone lists it.

Verified keys are cached for ``cache_ttl_s`` (a revoked key or a suspended tenant stops
working within that time) so that the hot path (dial, answer, hang up) costs no extra ask;
at most ``cache_size`` keys are held (the cache is emptied when it is full).

Failed credentials are remembered too (:class:`fabric.edge.limits.FailedCredentials`): a
key refused as invalid is refused again from memory for a while, and an address that keeps
presenting bad credentials is refused (``RESOURCE_EXHAUSTED auth-backoff``) before any
verification, for a time that doubles with each failure. Well-formed fake keys therefore
cannot make the fabric activate tenant actors and read storage at the client's pace.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from fabric.clock import Clock, SystemClock
from fabric.edge.credentials import ApiKeyParts, is_operator_token, parse_api_key
from fabric.edge.limits import FailedCredentials
from fabric.errors import FabricError, PermissionDenied, Unauthenticated


class Role(StrEnum):
    """Roles of a credential."""

    OPERATOR = "operator"  # the bootstrap operator token (creates named operators)
    CARRIER_ADMIN = "carrier-admin"  # a named operator with every carrier power
    SUPPORT = "support"  # carrier staff: tenant metadata, never content
    BILLING = "billing"  # carrier staff: CDR metadata (billing)
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller."""

    role: Role
    tenant_id: str = ""  # empty for carrier staff (operator token, named operators)
    user_id: str = ""  # a tenant's user id, or an operator id ("bootstrap" = operator token)
    key_id: str = ""  # the API key used ("operator-token" for the bootstrap token)


class KeyRejected(FabricError):
    """Raised by a verifier for a suspended tenant (PERMISSION_DENIED)."""

    code = PermissionDenied.code
    default_error_id = "tenant-suspended"


KeyVerifier = Callable[[ApiKeyParts], Awaitable[Principal]]
"""Checks a parsed key against its tenant; raises Unauthenticated / PermissionDenied."""

BOOTSTRAP = "bootstrap"
BOOTSTRAP_KEY = "operator-token"
CARRIER_STAFF = frozenset({Role.OPERATOR, Role.CARRIER_ADMIN, Role.SUPPORT, Role.BILLING})
"""Roles that belong to the carrier, not to a tenant."""

current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def principal() -> Principal:
    """The principal of the RPC being handled (set by the edge interceptor)."""
    return current_principal.get()


class Authorizer:
    """Credentials -> principal, then the role table."""

    def __init__(
        self,
        operator_token: str,
        verify_key: KeyVerifier,
        roles: Mapping[str, frozenset[Role]],
        *,
        cache_ttl_s: float = 5.0,
        cache_size: int = 10_000,
        clock: Clock | None = None,
        failed: FailedCredentials | None = None,
    ) -> None:
        self._operator_token = operator_token
        self._verify_key = verify_key
        self._roles = roles
        self._ttl = cache_ttl_s
        self._size = cache_size
        self._clock = clock or SystemClock()
        self._cache: dict[str, tuple[float, Principal]] = {}
        self.failed = failed or FailedCredentials(self._clock)

    @property
    def cached_keys(self) -> int:
        """How many verified keys the cache holds now (never more than ``cache_size``)."""
        return len(self._cache)

    async def authenticate(self, metadata: Mapping[str, str], peer: str = "") -> Principal:
        """The principal named by the ``authorization`` metadata of a request from
        ``peer`` (an address; '' = not counted against any address)."""
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "send metadata 'authorization: Bearer <api key or operator token>'",
                error_id="missing-credentials",
            )
        token = token.strip()
        if is_operator_token(token, self._operator_token):
            return Principal(Role.OPERATOR, user_id=BOOTSTRAP, key_id=BOOTSTRAP_KEY)
        now = self._clock.now()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        parts = parse_api_key(token)  # garbage costs nothing: refused, not counted
        if peer and not self.failed.known_good(token):
            self.failed.check_peer(peer)
        known = self.failed.known_bad(token)
        if known is not None:
            self.failed.failed(peer, token, known)
            raise known
        try:
            found = await self._verify_key(parts)
        except Unauthenticated as exc:
            self.failed.failed(peer, token, exc)
            raise
        self.failed.succeeded(peer, token)
        if len(self._cache) >= self._size:
            self._cache.clear()
        self._cache[token] = (now + self._ttl, found)
        return found

    def check(self, method: str, who: Principal) -> None:
        """PERMISSION_DENIED unless ``who``'s role may call ``method``."""
        allowed = self._roles.get(method)
        if allowed is None or who.role not in allowed:
            needed = ", ".join(r.value for r in Role if r in (allowed or ()))
            hint = ("; the operator token is the bootstrap credential: create a named "
                    "carrier-admin with it (fabric operator add NAME --role carrier-admin) "
                    "and use that key" if who.role == Role.OPERATOR
                    and Role.CARRIER_ADMIN in (allowed or ()) else "")
            raise PermissionDenied(
                f"your role ({who.role.value}) may not call this method; it needs a key with "
                f"one of these roles: {needed or 'none (the method is closed)'}{hint}",
                error_id="role-not-allowed",
                details={"role": who.role.value, "required_roles": needed},
            )

    async def authorize(
        self, method: str, metadata: Mapping[str, str], peer: str = ""
    ) -> Principal:
        """Authenticate, then check the role table."""
        who = await self.authenticate(metadata, peer)
        self.check(method, who)
        return who

"""The edge's cache of verified API keys: entries expire after the TTL, the size is bounded."""

from __future__ import annotations

import pytest

from fabric.edge.auth import Authorizer, Principal, Role
from fabric.edge.credentials import ApiKeyParts, new_api_key
from fabric.errors import Unauthenticated
from fabric.testing import ManualClock

DIAL = "/fabric.api.v1.Calls/Dial"
ROLES = {DIAL: frozenset({Role.MEMBER})}


class Keys:
    """A tenant's key table: verifies its keys until they are revoked; counts checks."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.checks = 0

    async def __call__(self, parts: ApiKeyParts) -> Principal:
        self.checks += 1
        if parts.key_id in self.revoked:
            raise Unauthenticated("key revoked", error_id="bad-credentials")
        return Principal(Role.MEMBER, parts.tenant_id, "u-1")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_a_revoked_key_is_refused_once_its_cache_entry_expires() -> None:
    clock, keys = ManualClock(), Keys()
    auth = Authorizer("fo_op", keys, ROLES, cache_ttl_s=5.0, clock=clock)
    key_id, key, _ = new_api_key("t-1")
    await auth.authorize(DIAL, bearer(key))
    keys.revoked.add(key_id)
    await clock.advance(4.9)
    await auth.authorize(DIAL, bearer(key))  # still cached: the hot path asks nobody
    assert keys.checks == 1
    await clock.advance(0.2)  # past the TTL: checked again, and refused
    with pytest.raises(Unauthenticated):
        await auth.authorize(DIAL, bearer(key))
    assert keys.checks == 2
    with pytest.raises(Unauthenticated):  # a refusal is not cached as a success
        await auth.authorize(DIAL, bearer(key))


async def test_a_valid_key_is_checked_again_after_the_ttl() -> None:
    clock, keys = ManualClock(), Keys()
    auth = Authorizer("fo_op", keys, ROLES, cache_ttl_s=5.0, clock=clock)
    _, key, _ = new_api_key("t-1")
    for _ in range(3):
        await auth.authorize(DIAL, bearer(key))
        await clock.advance(5.0)
    assert keys.checks == 3


async def test_the_cache_holds_at_most_cache_size_keys() -> None:
    clock, keys = ManualClock(), Keys()
    auth = Authorizer("fo_op", keys, ROLES, cache_ttl_s=60.0, cache_size=4, clock=clock)
    made = [new_api_key(f"t-{i}")[1] for i in range(10)]
    for key in made:
        await auth.authorize(DIAL, bearer(key))
        assert 1 <= auth.cached_keys <= 4
    assert keys.checks == 10
    await auth.authorize(DIAL, bearer(made[-1]))  # the newest is still cached
    assert keys.checks == 10
    await auth.authorize(DIAL, bearer(made[0]))  # the oldest was evicted: checked again
    assert keys.checks == 11


async def test_a_zero_ttl_caches_nothing() -> None:
    clock, keys = ManualClock(), Keys()
    auth = Authorizer("fo_op", keys, ROLES, cache_ttl_s=0.0, clock=clock)
    _, key, _ = new_api_key("t-1")
    await auth.authorize(DIAL, bearer(key))
    await auth.authorize(DIAL, bearer(key))
    assert keys.checks == 2

"""The edge's limits over real gRPC (in-process actors): failed credentials are answered from
memory and an address that keeps failing is backed off; Dial is rate-limited per key;
refusals are RESOURCE_EXHAUSTED with an error id and a retry-after, counted by reason."""

from __future__ import annotations

import grpc
import pytest
from edge_harness import EdgeApiFactory

from actors.api.principals import KeyVerifier
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.edge.auth import Authorizer, Principal, Role
from fabric.edge.credentials import ApiKeyParts, new_api_key, parse_api_key
from fabric.edge.limits import FailedCredentials
from fabric.errors import NotFound, ResourceExhausted, Unauthenticated
from fabric.testing import ManualClock


class CountingVerifier:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, parts: ApiKeyParts) -> Principal:
        self.calls += 1
        raise Unauthenticated("the API key is not valid", error_id="bad-credentials")


def _refusals(api: object, reason: str) -> float:
    metrics = api.gateway.metrics  # type: ignore[attr-defined]
    value = metrics.registry.get_sample_value("fabric_limit_refusals_total", {"reason": reason})
    return value or 0.0


async def _status(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro  # type: ignore[misc]
    return info.value


async def test_fake_keys_are_refused_from_memory_then_the_address_is_backed_off(
    edge_api: EdgeApiFactory,
) -> None:
    api = await edge_api(auth_failures_free=3, auth_backoff_max_s=30, key_cache_s=0)
    made = await api.operator.create_tenant("Acme")
    tenant_id = made.tenant.tenant_id
    _, fake, _ = new_api_key(tenant_id)  # well formed, names a real tenant, never issued
    client = api.client(fake)
    known = api.client(made.owner_api_key)  # a real key used before the attack ...
    await known.get_config()
    try:
        for _ in range(3):
            err = await _status(client.calls.ListActiveCalls(
                api_calls.ListActiveCallsRequest(), metadata=client.metadata))
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        err = await _status(client.calls.ListActiveCalls(
            api_calls.ListActiveCallsRequest(), metadata=client.metadata))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(err.trailing_metadata() or ())
        assert trailers["fabric-error-id"] == "auth-backoff"
        assert 0 < float(trailers["retry-after"]) <= 30
        assert _refusals(api, "auth-backoff") == 1
        # ... still works from the same address; an unknown one waits for the backoff
        assert (await known.get_config()).tenant_id == tenant_id
        _, other_fake, _ = new_api_key(tenant_id)
        stranger = api.client(other_fake)
        err = await _status(stranger.calls.ListActiveCalls(
            api_calls.ListActiveCallsRequest(), metadata=stranger.metadata))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await stranger.close()
        # garbage that is not a key at all costs nothing and is not counted
        garbage = api.client("not-a-key")
        err = await _status(garbage.calls.ListActiveCalls(
            api_calls.ListActiveCallsRequest(), metadata=garbage.metadata))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        await garbage.close()
    finally:
        await client.close()
        await known.close()


async def test_a_refused_key_is_answered_from_memory() -> None:
    clock = ManualClock()
    verifier = CountingVerifier()
    auth = Authorizer("fo_operator", verifier, {"/m": frozenset({Role.MEMBER})}, clock=clock,
                      failed=FailedCredentials(clock, ttl_s=30, free_failures=100))
    _, fake, _ = new_api_key("t-good")
    for peer in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        with pytest.raises(Unauthenticated):
            await auth.authorize("/m", {"authorization": f"Bearer {fake}"}, peer)
    assert verifier.calls == 1  # one tenant actor ask, then from memory
    await clock.advance(31)
    with pytest.raises(Unauthenticated):
        await auth.authorize("/m", {"authorization": f"Bearer {fake}"}, "10.0.0.1")
    assert verifier.calls == 2


async def test_backoff_doubles_and_is_forgiven() -> None:
    clock = ManualClock()
    failed = FailedCredentials(clock, free_failures=2, base_backoff_s=0.5, max_backoff_s=4)
    failed.failed("10.0.0.9", "x", None)
    failed.check_peer("10.0.0.9")  # within the free failures
    waits = []
    for _ in range(5):
        failed.failed("10.0.0.9", "x", None)
        with pytest.raises(ResourceExhausted) as info:
            failed.check_peer("10.0.0.9")
        assert info.value.error_id == "auth-backoff"
        waits.append(info.value.details["retry_after_s"])
    assert waits == [0.5, 1, 2, 4, 4]
    failed.check_peer("10.0.0.8")  # another address is not affected
    await clock.advance(5)
    failed.check_peer("10.0.0.9")  # quiet longer than the longest backoff: forgiven


async def test_dial_is_rate_limited_per_key(edge_api: EdgeApiFactory) -> None:
    api = await edge_api(dials_per_s_per_key=0.5, dial_burst=3)
    made = await api.operator.create_tenant("Acme")
    owner = api.client(made.owner_api_key)
    try:
        user = await owner.create_user("Alice", api_common.ROLE_MEMBER)
        await owner.put_extension("101", user.user_id)
        request = api_calls.DialRequest(from_extension="101",
                                        to=api_common.Destination(extension="999"))
        codes = []
        for _ in range(4):
            try:
                await owner.calls.Dial(request, metadata=owner.metadata)
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
                last = exc
        assert grpc.StatusCode.RESOURCE_EXHAUSTED not in codes[:3]
        assert codes[3] == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(last.trailing_metadata() or ())
        assert trailers["fabric-error-id"] == "rate-limited-dial"
        assert 0 < float(trailers["retry-after"]) <= 2.0
        assert _refusals(api, "rate-limited-dial") == 1
        # another key of the same tenant has its own bucket
        other = await owner.create_api_key(user.user_id)
        member = api.client(other.secret)
        try:
            err = await _status(member.calls.Dial(request, metadata=member.metadata))
            assert err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            await member.close()
    finally:
        await owner.close()


class _NoTenants:
    """An actor system where no tenant exists; counts the asks."""

    def __init__(self) -> None:
        self.asks = 0

    def ref(self, address: object) -> _NoTenants:
        return self

    async def ask(self, message: object, reply: object = None) -> object:
        self.asks += 1
        raise NotFound("no such tenant", error_id="tenant-not-found")


async def test_made_up_keys_of_an_unknown_tenant_activate_nothing_twice() -> None:
    system, clock = _NoTenants(), ManualClock()
    verify = KeyVerifier(system, clock=clock, unknown_tenant_s=30)  # type: ignore[arg-type]
    for _ in range(50):  # 50 different well-formed keys naming one tenant id
        _, key, _ = new_api_key("t-doesnotexist")
        with pytest.raises(Unauthenticated):
            await verify(parse_api_key(key))
    assert system.asks == 1
    await clock.advance(31)
    with pytest.raises(Unauthenticated):
        await verify(parse_api_key(new_api_key("t-doesnotexist")[1]))
    assert system.asks == 2

"""Per-tenant limits by plan over real gRPC (in-process actors): registrations per
extension, concurrent calls and calls with media; over a limit the request is refused
RESOURCE_EXHAUSTED with the limit's error id and a retry-after, counted by reason; freeing
a place admits again. Across tenants only public numbers show."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from edge_harness import EdgeApi, EdgeApiFactory, FakeMedia, Registration, refusals

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.client import FabricClient
from fabric.errors import ResourceExhausted

OFFER = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"o" * 30)


async def _office(api: EdgeApi, name: str = "Acme") -> tuple[str, FabricClient, FabricClient]:
    """A tenant with Alice on 101 and Bob on 102: (tenant id, Alice's client, Bob's)."""
    made = await api.operator.create_tenant(name)
    owner = api.client(made.owner_api_key)
    try:
        alice = await owner.create_user("Alice")
        bob = await owner.create_user("Bob")
        await owner.put_extension("101", alice.user_id)
        await owner.put_extension("102", bob.user_id)
        a = (await owner.create_api_key(alice.user_id)).secret
        b = (await owner.create_api_key(bob.user_id)).secret
    finally:
        await owner.close()
    return made.tenant.tenant_id, api.client(a), api.client(b)


def _key(client: FabricClient) -> str:
    return client.metadata[0][1].removeprefix("Bearer ")


async def test_registrations_per_extension(edge_api: EdgeApiFactory) -> None:
    api = await edge_api(limits={"standard_registrations_per_extension": 2})
    _, alice, bob = await _office(api)
    regs: list[Registration] = []
    try:
        for _ in range(2):
            regs.append(Registration(api, _key(alice), "101"))
            await regs[-1].registered()
        regs.append(Registration(api, _key(alice), "101"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await regs[-1].registered()
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(info.value.trailing_metadata() or ())
        assert trailers["fabric-error-id"] == "registrations-per-extension"
        assert float(trailers["retry-after"]) > 0
        assert refusals(api, "registrations-per-extension") == 1
        other = Registration(api, _key(bob), "102")  # another extension is not affected
        regs.append(other)
        await other.registered()
    finally:
        for reg in regs:
            await reg.close()
        await alice.close()
        await bob.close()


async def test_concurrent_calls_and_media_sessions(edge_api: EdgeApiFactory) -> None:
    api = await edge_api(media=FakeMedia(), limits={"standard_concurrent_calls": 3,
                                                   "standard_media_sessions": 1})
    _, alice, bob = await _office(api)
    phone = Registration(api, _key(bob), "102")  # ringing needs a registered callee
    try:
        await phone.registered()
        with_media = await alice.dial("101", extension="102", media=OFFER)
        with pytest.raises(ResourceExhausted) as info:
            await alice.dial("101", extension="102", media=OFFER)
        assert info.value.error_id == "media-sessions"
        plain = [await alice.dial("101", extension="102") for _ in range(2)]
        with pytest.raises(ResourceExhausted) as info:
            await alice.dial("101", extension="102")
        assert info.value.error_id == "concurrent-calls"
        assert refusals(api, "concurrent-calls") == 1
        assert refusals(api, "media-sessions") == 1
        await alice.hangup(with_media.call_id)  # a place (and the media session) is free
        again = await alice.dial("101", extension="102", media=OFFER)
        assert again.state == api_calls.CALL_STATE_RINGING
        for call in (again, *plain):
            await alice.hangup(call.call_id)
    finally:
        await phone.close()
        await alice.close()
        await bob.close()


async def test_across_tenants_only_public_numbers_show(edge_api: EdgeApiFactory) -> None:
    api = await edge_api()
    acme, alice, _ = await _office(api, "Acme")
    made = await api.operator.create_tenant("Globex")
    globex = api.client(made.owner_api_key)
    dave = await globex.create_user("Dave")
    await globex.put_extension("201", dave.user_id)
    dave_client = api.client((await globex.create_api_key(dave.user_id)).secret)
    [acme_number] = await api.operator.allocate_numbers(acme, count=1)
    [globex_number] = await api.operator.allocate_numbers(made.tenant.tenant_id, count=1)
    await globex.route_number(globex_number, extension="201")
    phone = Registration(api, _key(dave_client), "201")
    try:
        await phone.registered()
        dialled = await alice.dial("101", number=globex_number)
        assert list(dialled.ringing) == []  # not Globex's internal extension 201
        incoming = await phone.next_event(api_calls.CALL_EVENT_INCOMING)
        assert getattr(incoming, "from") == acme_number  # not Acme's internal 101
        seen_by_dave = await dave_client.get_call(dialled.call_id)
        assert getattr(seen_by_dave, "from") == acme_number
        await dave_client.answer(dialled.call_id, "201")
        seen_by_alice = await alice.get_call(dialled.call_id)
        assert seen_by_alice.answered_by == globex_number  # the number dialled
        assert getattr(seen_by_alice, "from") == "101"  # her own tenant sees her extension
        await alice.hangup(dialled.call_id)
    finally:
        await phone.close()
        for client in (alice, globex, dave_client):
            await client.close()


async def test_one_connection_has_at_most_max_concurrent_streams(
    edge_api: EdgeApiFactory,
) -> None:
    api = await edge_api(max_concurrent_streams=2,
                         limits={"standard_registrations_per_extension": 10})
    _, alice, bob = await _office(api)
    channel = grpc.aio.insecure_channel(api.target)
    regs = [Registration(api, _key(alice), "101", channel) for _ in range(2)]
    try:
        for reg in regs:
            await reg.registered()
        third = Registration(api, _key(alice), "101", channel)
        regs.append(third)
        waiting = asyncio.ensure_future(third.registered())
        done, _ = await asyncio.wait({waiting}, timeout=1.0)
        assert not done  # the connection's third stream waits for a free one ...
        await regs[0].close()
        await asyncio.wait_for(waiting, 10)  # ... and goes on once one closes
    finally:
        for reg in regs:
            await reg.close()
        await channel.close()
        await alice.close()
        await bob.close()

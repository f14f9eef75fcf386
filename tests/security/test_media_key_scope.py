"""A leg's SRTP relay key reaches only the registration that dialled or answered (in its
reply), never the other softphones registered on the extension (real gRPC, in-process
actors, a fake relay)."""

from __future__ import annotations

from edge_harness import EdgeApiFactory, FakeMedia, Registration

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common

OFFER = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"o" * 30)


async def test_only_the_answering_registration_gets_the_relay_key(
    edge_api: EdgeApiFactory,
) -> None:
    api = await edge_api(media=FakeMedia())
    made = await api.operator.create_tenant("Acme")
    owner = api.client(made.owner_api_key)
    regs: list[Registration] = []
    try:
        alice = await owner.create_user("Alice")
        bob = await owner.create_user("Bob")
        await owner.put_extension("101", alice.user_id)
        await owner.put_extension("102", bob.user_id)
        alice_key = (await owner.create_api_key(alice.user_id)).secret
        bob_key = (await owner.create_api_key(bob.user_id)).secret
        caller = Registration(api, alice_key, "101")
        desk, mobile = Registration(api, bob_key, "102"), Registration(api, bob_key, "102")
        regs = [caller, desk, mobile]
        for reg in regs:
            await reg.registered()

        a, b = api.client(alice_key), api.client(bob_key)
        try:
            dialled = await a.dial("101", extension="102", media=OFFER)
            assert dialled.media.key == FakeMedia.KEY  # in the reply to the dialler
            ringing = await caller.next_event(api_calls.CALL_EVENT_RINGING)
            assert ringing.media.relay_port == dialled.media.relay_port
            assert not ringing.media.key
            for phone in (desk, mobile):
                await phone.next_event(api_calls.CALL_EVENT_INCOMING)
            answered = await b.answer(dialled.call_id, "102", media=OFFER)
            assert answered.media.key == FakeMedia.KEY  # in the reply to the answerer
            for phone in (desk, mobile, caller):
                event = await phone.next_event(api_calls.CALL_EVENT_ANSWERED)
                assert event.media.relay_port  # where the leg's SRTP goes ...
                assert not event.media.key  # ... but not its key
        finally:
            await a.close()
            await b.close()
    finally:
        for reg in regs:
            await reg.close()
        await owner.close()

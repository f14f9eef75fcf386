"""Calls with audio end to end: SDK softphones (and the CLI) dial and answer through the
fabric's gRPC API over TLS on a real local Ray cluster; their SRTP goes through the media
relay actors over real UDP; the CDR (real Cassandra) carries the relay's media statistics.

The fabric of this module (``e2e`` fixture, ``calls_e2e_harness``) runs its relays with a
3 s media timeout, so the phones here keep alive every 0.5 s.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from calls_e2e_harness import ROOT, E2EFabric

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.client import CallAudio, FabricClient, Softphone
from fabric.errors import InvalidArgument, NotFound
from fabric.media import g711
from fabric.media.suites import SrtpSuite
from fabric.testing import eventually

pytestmark = [pytest.mark.ray, pytest.mark.cassandra,
              pytest.mark.asyncio(loop_scope="module")]

KEEPALIVE_S = 0.5
TONE = g711.sweep_ulaw(2.0)          # 100 frames of 20 ms
OTHER_TONE = g711.sweep_ulaw(2.0)[::-1]


@dataclass
class Office:
    """A tenant with its owner and one member client per extension."""

    owner: FabricClient
    members: dict[str, FabricClient]
    keys: dict[str, str]


async def make_office(e2e: E2EFabric, *extensions: str) -> Office:
    op = e2e.client()
    made = await op.create_tenant(f"Audio {time.monotonic_ns()}")
    owner = op.with_token(made.owner_api_key)
    members: dict[str, FabricClient] = {}
    keys: dict[str, str] = {}
    for ext in extensions:
        user = await owner.create_user(f"User {ext}")
        await owner.put_extension(ext, user.user_id)
        key = await owner.create_api_key(user.user_id)
        members[ext] = owner.with_token(key.secret)
        keys[ext] = key.secret
    return Office(owner, members, keys)


async def ports_in_use(e2e: E2EFabric) -> int:
    return (await e2e.media.counts())["ports_in_use"]


async def wait_released(e2e: E2EFabric, call_id: str, ports: int) -> None:
    """The call's relay session is gone and the relays hold ``ports`` ports again."""
    with pytest.raises(NotFound):
        await e2e.media.session_status(call_id)

    async def given_back() -> bool:  # a closed socket returns its port on the next loop turn
        return await ports_in_use(e2e) == ports

    await eventually(given_back, what=f"the relays back to {ports} ports in use")


async def connected_call(
    o: Office, pa: Softphone, pb: Softphone
) -> tuple[str, CallAudio, CallAudio]:
    """101 dials 102 with media, 102 answers with media; both hear each other's phone."""
    alice = CallAudio(keepalive_s=KEEPALIVE_S)
    bob = CallAudio(suite=SrtpSuite.AEAD_AES_256_GCM, keepalive_s=KEEPALIVE_S)
    call = await o.members["101"].dial("101", extension="102", media=alice.offer())
    assert call.media.relay_port and call.media.key
    await alice.start(call.media)
    ringing = await pa.expect(api_calls.CALL_EVENT_RINGING, call.call_id)
    assert ringing.media.relay_port == call.media.relay_port
    incoming = await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
    assert not incoming.media.relay_port  # the callee has no leg until it answers
    answered = await o.members["102"].answer(call.call_id, "102", media=bob.offer())
    assert answered.media.relay_port not in (0, call.media.relay_port)
    await bob.start(answered.media)
    event = await pa.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
    assert event.media.relay_port == call.media.relay_port
    assert await alice.wait_peer(5.0) and await bob.wait_peer(5.0)
    return call.call_id, alice, bob


async def test_softphones_exchange_a_wav_sample_exact_and_the_cdr_has_media_stats(
    e2e: E2EFabric, tmp_path: Path
) -> None:
    o = await make_office(e2e, "101", "102")
    ports = await ports_in_use(e2e)
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected_call(o, pa, pb)
        try:
            assert await ports_in_use(e2e) == ports + 2
            alice_wav, bob_wav = tmp_path / "alice.wav", tmp_path / "bob.wav"
            g711.write_ulaw_wav(alice_wav, TONE)
            g711.write_ulaw_wav(bob_wav, OTHER_TONE)
            sent = await asyncio.gather(alice.send_wav(alice_wav), bob.send_wav(bob_wav))
            assert sent == [100, 100]
            assert await alice.wait_received(100, 5.0) and await bob.wait_received(100, 5.0)
            bob.save_recording(tmp_path / "bob-heard.wav")
            alice.save_recording(tmp_path / "alice-heard.wav")
            assert g711.read_wav_as_ulaw(tmp_path / "bob-heard.wav") == TONE
            assert g711.read_wav_as_ulaw(tmp_path / "alice-heard.wav") == OTHER_TONE
            ended = await o.members["101"].hangup(call_id)
            assert ended.end_reason == api_calls.END_REASON_COMPLETED
            await pb.expect(api_calls.CALL_EVENT_ENDED, call_id)
        finally:
            await alice.close()
            await bob.close()
    await wait_released(e2e, call_id, ports)
    record = await o.owner.get_cdr(call_id)
    assert record.disposition == api_calls.END_REASON_COMPLETED
    assert record.packets_received == 200  # 100 frames from each phone reached the relay
    assert record.packets_sent == 200      # and 100 went out to each
    assert record.packets_lost == 0
    assert record.jitter_ms >= 0


async def test_a_phone_that_goes_silent_ends_the_call_with_media_timeout_and_one_cdr(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, "101", "102")
    ports = await ports_in_use(e2e)
    t0 = int(time.time() * 1000)
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected_call(o, pa, pb)
        try:
            await alice.send_ulaw(TONE[: 160 * 10])
            bob.stop_keepalive()  # 102's phone vanishes; 101's keeps sending reports
            for phone in (pa, pb):
                ended = await phone.expect(api_calls.CALL_EVENT_ENDED, call_id, timeout_s=20.0)
                assert ended.end_reason == api_calls.END_REASON_MEDIA_TIMEOUT
        finally:
            await alice.close()
            await bob.close()
    await wait_released(e2e, call_id, ports)
    record = await o.owner.get_cdr(call_id)
    assert record.hangup_cause == "media-timeout"
    assert record.disposition == api_calls.END_REASON_MEDIA_TIMEOUT
    assert record.packets_received >= 10
    page = await o.owner.query_cdrs(t0 - 60_000, number="101", page_size=100)
    assert [r.call_id for r in page.records].count(call_id) == 1
    with pytest.raises(NotFound):  # the call is gone: nothing left to time out twice
        await o.members["101"].get_call(call_id)


async def test_media_is_released_on_reject_and_the_leaving_leg_on_transfer(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, "101", "102", "103")
    ports = await ports_in_use(e2e)
    a, b, c = o.members["101"], o.members["102"], o.members["103"]
    async with Softphone(a, "101") as pa, Softphone(b, "102") as pb, \
            Softphone(c, "103") as pc:
        # reject: the caller's leg was open while it rang; rejecting frees it
        caller = CallAudio(keepalive_s=KEEPALIVE_S)
        call = await a.dial("101", extension="102", media=caller.offer())
        await caller.start(call.media)
        await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        assert await ports_in_use(e2e) == ports + 1
        await b.reject(call.call_id, "102")
        await pa.expect(api_calls.CALL_EVENT_ENDED, call.call_id)
        await caller.close()
        await wait_released(e2e, call.call_id, ports)

        # blind transfer: 102 leaves, its leg goes at once; 103 answers with its own
        call_id, alice, bob = await connected_call(o, pa, pb)
        carol = CallAudio(keepalive_s=KEEPALIVE_S)
        try:
            await b.transfer(call_id, extension="103")
            left = await pb.expect(api_calls.CALL_EVENT_ENDED, call_id)
            assert left.end_reason == api_calls.END_REASON_TRANSFERRED
            status = await e2e.media.session_status(call_id)
            assert [leg.leg_id for leg in status.legs] == ["caller"]
            assert await ports_in_use(e2e) == ports + 1
            await pc.expect(api_calls.CALL_EVENT_INCOMING, call_id)
            answered = await c.answer(call_id, "103", media=carol.offer())
            await carol.start(answered.media)
            assert await carol.wait_peer(5.0)
            await alice.send_ulaw(TONE[: 160 * 25])
            assert await carol.wait_received(25, 5.0)
            assert carol.recording() == TONE[: 160 * 25]
            assert bob.packets_received == 0  # the party that left hears nothing
            await a.hangup(call_id)
            await pc.expect(api_calls.CALL_EVENT_ENDED, call_id)
        finally:
            for phone in (alice, bob, carol):
                await phone.close()
    await wait_released(e2e, call_id, ports)


async def test_a_cli_call_between_two_cli_softphones_carries_audio(
    e2e: E2EFabric, tmp_path: Path
) -> None:
    """The issue's "done when": `fabric call dial` to a `fabric phone`, both with --wav."""
    o = await make_office(e2e, "101", "102")
    g711.write_ulaw_wav(tmp_path / "to-102.wav", TONE)
    g711.write_ulaw_wav(tmp_path / "to-101.wav", OTHER_TONE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FABRIC_TOKEN", None)

    def cli(ext: str, *args: str) -> list[str]:
        key_file = tmp_path / f"{ext}.key"  # the CLI takes no key on its command line
        key_file.write_text(o.keys[ext])
        key_file.chmod(0o600)
        return [sys.executable, "-m", "fabric.client.cli", "--target", e2e.target,
                "--ca", str(e2e.ca_file), "--token-file", str(key_file), *args]

    phone = await asyncio.create_subprocess_exec(
        *cli("102", "phone", "102", "--auto-answer", "--answer-after", "0.2",
             "--wav", str(tmp_path / "to-101.wav"),
             "--record", str(tmp_path / "heard-by-102-{call_id}.wav")),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert phone.stdout is not None
        line = await asyncio.wait_for(phone.stdout.readline(), 30)
        assert b"registered 102" in line, line
        dial = await asyncio.create_subprocess_exec(
            *cli("101", "call", "dial", "101", "102",
                 "--wav", str(tmp_path / "to-102.wav"),
                 "--record", str(tmp_path / "heard-by-101.wav"), "--hangup-after", "3.5"),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(dial.communicate(), 60)
        text = out.decode()
        assert dial.returncode == 0, text
        assert "sent 100 frames" in text and "received 100 frames" in text, text
        phone_out = b""
        while b"audio: received" not in phone_out:
            phone_out += await asyncio.wait_for(phone.stdout.readline(), 20)
        assert b"received 100 frames" in phone_out, phone_out
    finally:
        phone.terminate()
        await phone.wait()
    assert g711.read_wav_as_ulaw(tmp_path / "heard-by-101.wav") == OTHER_TONE
    heard = list(tmp_path.glob("heard-by-102-*.wav"))
    assert len(heard) == 1 and g711.read_wav_as_ulaw(heard[0]) == TONE
    for secret in o.keys.values():  # no credentials or media keys in the output
        assert secret not in text
    assert "key" not in text.lower()


async def test_a_malformed_media_offer_is_refused_and_leaves_nothing_behind(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, "101", "102")
    ports = await ports_in_use(e2e)
    a, b = o.members["101"], o.members["102"]
    bad = api_common.MediaOffer(suite="AES_CM_128_HMAC_SHA1_80", key=b"short")
    with pytest.raises(InvalidArgument):
        await a.dial("101", extension="102", media=bad)
    with pytest.raises(InvalidArgument):
        await a.dial("101", extension="102", media=api_common.MediaOffer(suite="ROT13", key=b"x"))
    assert await ports_in_use(e2e) == ports
    async with Softphone(b, "102") as pb:
        caller = CallAudio(keepalive_s=KEEPALIVE_S)
        call = await a.dial("101", extension="102", media=caller.offer())
        await caller.start(call.media)
        await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        with pytest.raises(InvalidArgument):  # a bad answer offer: the call keeps ringing
            await b.answer(call.call_id, "102", media=bad)
        assert (await a.get_call(call.call_id)).state == api_calls.CALL_STATE_RINGING
        await a.hangup(call.call_id)
        await caller.close()
    await wait_released(e2e, call.call_id, ports)

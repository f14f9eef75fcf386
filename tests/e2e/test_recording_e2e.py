"""Call recording end to end (issue 11): SDK softphones call through the fabric's gRPC API
over TLS on a real local Ray cluster, their SRTP goes through the relays over real UDP, the
relay's fork seals the recording in the real Cassandra content store, and the Recordings
service streams it back.

- policy off: no recording object at all (the content store asked directly, and a scan of
  its Cassandra tables and the vault's data keys), ``recorded = false`` in the CDR;
- always: each channel equals what that party sent, sample-exact, preceded by the
  announcement; the CDR shows the consent source;
- on demand: start and stop mid-call record exactly that span, hold pauses it, a party
  without the right is refused; an objection by key press stops it and is kept;
- reach: a member reads only their own calls' recordings, another tenant gets NOT_FOUND.

Synchronisation without sleeps: the relay's per-leg counters (``session_status``) say when
the announcement has been sent and when forwarding (muted during it) resumed, which is when
the fork starts recording; until then a phone sends silence frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from calls_e2e_harness import ROOT, E2EFabric

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client import CallAudio, FabricClient, Softphone
from fabric.client.recordings import RecordingsClient
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied
from fabric.media import g711
from fabric.media.feature_types import Codec
from fabric.media.prompts import encode_frames
from fabric.media.timeline import deinterleave
from fabric.media.wavstream import parse_pcm_wav, wav_header
from fabric.testing import eventually
from fabric.vault.content import CONTENT_CLASSES, RECORDING

pytestmark = [pytest.mark.ray, pytest.mark.cassandra,
              pytest.mark.asyncio(loop_scope="module")]

KEEPALIVE_S = 0.5
ANNOUNCEMENT = b"".join(
    int(3000 * ((n // 20) % 2 * 2 - 1)).to_bytes(2, "little", signed=True) for n in range(2400)
)  # the tenant's prompt: 300 ms of a 200 Hz square wave
ANNOUNCEMENT_FRAMES = encode_frames(ANNOUNCEMENT, Codec.PCMU)
HEARD = g711.ulaw_bytes_to_pcm16(b"".join(ANNOUNCEMENT_FRAMES))
SILENT_FRAME = bytes([0xFF]) * 160
TONE_A = g711.sweep_ulaw(1.0)  # 50 frames
TONE_B = g711.ulaw_encode([-s for s in g711.ulaw_decode(TONE_A)])
OFF, ALWAYS, ON_DEMAND = (
    api_tenant.RECORDING_OFF, api_tenant.RECORDING_ALWAYS, api_tenant.RECORDING_ON_DEMAND
)


@dataclass
class Office:
    """A tenant: its owner, and a member client per extension (with its user id)."""

    tenant_id: str
    owner: FabricClient
    members: dict[str, FabricClient]
    users: dict[str, str]


async def make_office(e2e: E2EFabric, policies: dict[str, int], consent: bool = False) -> Office:
    op = e2e.client()
    made = await op.create_tenant(f"Rec {time.monotonic_ns()}")
    owner = op.with_token(made.owner_api_key)
    members: dict[str, FabricClient] = {}
    users: dict[str, str] = {}
    for ext, policy in policies.items():
        user = await owner.create_user(f"User {ext}")
        await owner.put_extension_message(api_tenant.Extension(
            extension=ext, user_id=user.user_id, recording_policy=policy))
        key = await owner.create_api_key(user.user_id)
        members[ext] = owner.with_token(key.secret)
        users[ext] = user.user_id
    await RecordingsClient(owner).set_settings(api_rec.RecordingSettings(
        all_party_consent=consent, objection_digit="9",
        announcement_wav=wav_header(1, len(ANNOUNCEMENT)) + ANNOUNCEMENT))
    return Office(made.tenant.tenant_id, owner, members, users)


async def out_counts(e2e: E2EFabric, call_id: str) -> dict[str, int]:
    """RTP packets the relay has sent to each leg so far."""
    status = await e2e.media.session_status(call_id)
    return {leg.leg_id: leg.packets_out for leg in status.stats.legs}


async def until_recording(
    e2e: E2EFabric, call_id: str, sender: CallAudio, to_leg: str, floor: dict[str, int]
) -> None:
    """The announcement went to every leg; then ``sender`` sends silence until the relay
    forwards again (muted while announcing), i.e. until the fork records."""

    async def announced() -> bool:
        now = await out_counts(e2e, call_id)
        return all(now[leg] >= floor.get(leg, 0) + len(ANNOUNCEMENT_FRAMES) for leg in now)

    await eventually(announced, 10.0, 0.05, what="the announcement sent to every party")
    limit = floor.get(to_leg, 0) + len(ANNOUNCEMENT_FRAMES)
    deadline = asyncio.get_running_loop().time() + 10.0
    while (await out_counts(e2e, call_id))[to_leg] <= limit:
        assert asyncio.get_running_loop().time() < deadline, "forwarding never resumed"
        await sender.send_ulaw(SILENT_FRAME)  # paced 20 ms: recorded as silence


async def deliver(
    e2e: E2EFabric, call_id: str, sends: list[tuple[CallAudio, bytes, str]]
) -> None:
    """Each phone sends its audio; wait until the relay forwarded all of it."""
    before = await out_counts(e2e, call_id)
    await asyncio.gather(*(phone.send_ulaw(audio) for phone, audio, _ in sends))

    async def forwarded() -> bool:
        now = await out_counts(e2e, call_id)
        return all(now[leg] >= before[leg] + len(audio) // 160 for _, audio, leg in sends)

    await eventually(forwarded, 10.0, 0.05, what="the audio forwarded")


async def connected(o: Office, pa: Softphone, pb: Softphone) -> tuple[str, CallAudio, CallAudio]:
    """101 calls 102 with audio; 102 answers with audio."""
    alice, bob = CallAudio(keepalive_s=KEEPALIVE_S), CallAudio(keepalive_s=KEEPALIVE_S)
    call = await o.members["101"].dial("101", extension="102", media=alice.offer())
    await alice.start(call.media)
    await pb.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
    answered = await o.members["102"].answer(call.call_id, "102", media=bob.offer())
    await bob.start(answered.media)
    await pa.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
    return call.call_id, alice, bob


async def channels(client: FabricClient, recording_id: str) -> list[bytes]:
    wav = b"".join([c async for c in RecordingsClient(client).audio(recording_id)])
    count, rate, pcm = parse_pcm_wav(wav)
    assert (count, rate) == (2, 8000)
    return deinterleave(pcm, 2)


def assert_only(channel: bytes, *parts: bytes) -> None:
    """``channel`` holds ``parts`` in order, sample-exact, and silence everywhere else."""
    rest, at = bytearray(channel), 0
    for part in parts:
        found = channel.find(part, at)
        assert found >= 0 and found % 2 == 0, "a party's audio is missing or altered"
        rest[found : found + len(part)] = bytes(len(part))
        at = found + len(part)
    assert not any(rest), "the channel holds audio its party did not send then"


async def test_policy_off_leaves_no_recording_object_at_all(e2e: E2EFabric) -> None:
    o = await make_office(e2e, {"101": OFF, "102": OFF})
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected(o, pa, pb)
        try:
            await deliver(e2e, call_id, [(alice, TONE_A, "callee"), (bob, TONE_B, "caller")])
            with pytest.raises(FailedPrecondition) as refused:
                await RecordingsClient(o.owner).start(call_id)
            assert refused.value.error_id == "recording-not-allowed"
            await o.members["101"].hangup(call_id)
        finally:
            await alice.close()
            await bob.close()
    cdr = await o.owner.get_cdr(call_id)
    assert (cdr.recorded, cdr.recording_consent, list(cdr.recording_ids)) == (False, "", [])
    assert (await RecordingsClient(o.owner).list()).recordings == []
    content = e2e.stores.content
    assert content is not None
    assert await content.list(o.tenant_id, RECORDING) == []  # the content store itself
    # the raw tables: no object row, no chunk, no data key of this tenant, of any class
    session = e2e.stores._connection.session  # type: ignore[union-attr]
    rows = list(session.execute("SELECT tenant_id, data_class, key_id FROM content_objects"))
    assert [r for r in rows if r.tenant_id == o.tenant_id] == []
    keys = list(session.execute("SELECT tenant_id, data_class, object_id FROM vault_data_keys"))
    mine = {(r.data_class, r.object_id) for r in keys if r.tenant_id == o.tenant_id}
    assert {c for c, _ in mine}.isdisjoint(CONTENT_CLASSES)  # the CDR's keys, no content's


async def test_policy_always_records_each_party_sample_exact_after_the_announcement(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, {"101": OFF, "102": ALWAYS})
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected(o, pa, pb)
        try:
            await until_recording(e2e, call_id, alice, "callee", {})
            await deliver(e2e, call_id, [(alice, TONE_A, "callee"), (bob, TONE_B, "caller")])
            await o.members["102"].hangup(call_id)  # the end seals the recording
        finally:
            await alice.close()
            await bob.close()
    cdr = await o.owner.get_cdr(call_id)
    assert cdr.recorded and cdr.recording_consent == "extension-policy"
    assert cdr.recording_requested_by == "" and len(cdr.recording_ids) == 1
    assert cdr.started_at_ms <= cdr.recording_announced_at_ms <= cdr.ended_at_ms
    (listed,) = (await RecordingsClient(o.owner).list(extension="102")).recordings
    assert listed.recording_id == cdr.recording_ids[0] and listed.call_id == call_id
    assert listed.state == api_rec.RECORDING_STOPPED and listed.channels == 2
    assert listed.consent == api_rec.CONSENT_EXTENSION_POLICY
    ch_a, ch_b = await channels(o.owner, listed.recording_id)
    assert ch_a.startswith(HEARD) and ch_b.startswith(HEARD)
    assert_only(ch_a[len(HEARD):], g711.ulaw_bytes_to_pcm16(TONE_A))
    assert_only(ch_b[len(HEARD):], g711.ulaw_bytes_to_pcm16(TONE_B))
    assert listed.audio_bytes == 2 * len(ch_a)
    # reach: the parties read it, another tenant's owner does not even see it exists
    assert (await RecordingsClient(o.members["101"]).get(listed.recording_id)).call_id == call_id
    other = await make_office(e2e, {"201": OFF})
    with pytest.raises(NotFound):
        await RecordingsClient(other.owner).get(listed.recording_id)
    with pytest.raises(NotFound):
        await RecordingsClient(other.owner).delete(listed.recording_id)


async def test_on_demand_records_exactly_the_span_pausing_on_hold_and_refuses_others(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, {"101": OFF, "102": ON_DEMAND, "103": OFF})
    rec_a, rec_b = RecordingsClient(o.members["101"]), RecordingsClient(o.members["102"])
    part1, part2, part3, part4 = (TONE_A[i * 2000 : (i + 1) * 2000] for i in range(4))
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected(o, pa, pb)
        try:
            await deliver(e2e, call_id, [(alice, part4, "callee")])  # before: not recorded
            with pytest.raises(PermissionDenied) as denied:  # 101's own policy is off
                await rec_a.start(call_id)
            assert denied.value.error_id == "recording-not-allowed-for-you"
            with pytest.raises(NotFound):  # 103 is no party of the call
                await RecordingsClient(o.members["103"]).start(call_id)
            floor = await out_counts(e2e, call_id)
            started = await rec_b.start(call_id)
            assert started.requested_by == o.users["102"]
            await until_recording(e2e, call_id, alice, "callee", floor)
            await deliver(e2e, call_id, [(alice, part1, "callee")])
            await o.members["101"].hold(call_id)
            assert (await rec_b.get(started.recording_id)).state == api_rec.RECORDING_PAUSED
            await deliver(e2e, call_id, [(alice, part2, "callee")])  # held: not recorded
            await o.members["101"].resume(call_id)
            await deliver(e2e, call_id, [(alice, part3, "callee")])
            stopped = await rec_b.stop(call_id)
            assert stopped.state == api_rec.RECORDING_STOPPED
            await deliver(e2e, call_id, [(alice, part4, "callee")])  # after: not recorded
            await o.members["101"].hangup(call_id)
        finally:
            await alice.close()
            await bob.close()
    ch_a, ch_b = await channels(o.owner, started.recording_id)
    assert ch_a.startswith(HEARD) and ch_b.startswith(HEARD)
    assert_only(ch_a[len(HEARD):], g711.ulaw_bytes_to_pcm16(part1),
                g711.ulaw_bytes_to_pcm16(part3))
    assert not any(ch_b[len(HEARD):])  # 102 said nothing
    cdr = await o.owner.get_cdr(call_id)
    assert cdr.recording_consent == "call-request"
    assert cdr.recording_requested_by == o.users["102"]
    with pytest.raises(PermissionDenied):  # 103 was no party: not theirs
        await RecordingsClient(o.members["103"]).get(started.recording_id)
    deleted = await RecordingsClient(o.owner).delete(started.recording_id)
    assert deleted.destroyed_by_ms > 0
    with pytest.raises(NotFound):
        await RecordingsClient(o.owner).get(started.recording_id)
    content = e2e.stores.content
    assert content is not None and await content.list(o.tenant_id, RECORDING) == []


async def test_an_objection_by_key_press_stops_the_recording_and_is_on_the_record(
    e2e: E2EFabric,
) -> None:
    o = await make_office(e2e, {"101": ALWAYS, "102": OFF}, consent=True)
    async with Softphone(o.members["101"], "101") as pa, \
            Softphone(o.members["102"], "102") as pb:
        call_id, alice, bob = await connected(o, pa, pb)
        try:
            await until_recording(e2e, call_id, alice, "callee", {})
            (current,) = (await RecordingsClient(o.owner).list()).recordings
            await bob.send_dtmf("9")

            async def stopped() -> bool:
                r = await RecordingsClient(o.owner).get(current.recording_id)
                return r.state == api_rec.RECORDING_STOPPED

            await eventually(stopped, 10.0, 0.1, what="the objection stopped the recording")
            with pytest.raises(FailedPrecondition) as again:
                await RecordingsClient(o.members["101"]).start(call_id)
            assert again.value.error_id == "recording-objected"
            await o.members["101"].hangup(call_id)
        finally:
            await alice.close()
            await bob.close()
    r = await RecordingsClient(o.owner).get(current.recording_id)
    assert r.objected_by == "102" and r.objected_at_ms > 0
    cdr = await o.owner.get_cdr(call_id)
    assert cdr.recorded and cdr.recording_objection == "callee"


async def _fabric(e2e: E2EFabric, cwd: Path, token: str, *args: str) -> tuple[int, str]:
    """``fabric ARGS`` as a user runs it (README, Call recording), with ``token``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(cwd / "config"), FABRIC_TOKEN=token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fabric.client.cli", "--target", e2e.target, "--ca",
        str(e2e.ca_file), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60.0)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_readme_walkthrough_records_a_call_with_the_cli(
    e2e: E2EFabric, tmp_path: Path
) -> None:
    op = e2e.client()
    made = await op.create_tenant(f"Readme {time.monotonic_ns()}")
    owner = made.owner_api_key
    for args in (["user", "add", "Alice", "--ext", "101"], ["user", "add", "Bob", "--ext", "102"],
                 ["ext", "set", "102", "--recording-policy", "always"],
                 ["wav", "hello.wav", "--seconds", "2"]):
        rc, out = await _fabric(e2e, tmp_path, owner, *args)
        assert rc == 0, out
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "config"),
               FABRIC_TOKEN=owner)
    phone = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fabric.client.cli", "--target", e2e.target, "--ca",
        str(e2e.ca_file), "phone", "102", "--auto-answer", "--wav", "hello.wav", cwd=tmp_path,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert phone.stdout is not None
        line = await asyncio.wait_for(phone.stdout.readline(), 60.0)
        assert line.startswith(b"registered 102"), line
        rc, out = await _fabric(e2e, tmp_path, owner, "call", "dial", "101", "102", "--wav",
                                "hello.wav", "--hangup-after", "4")
        assert rc == 0, out
    finally:
        phone.terminate()
        await phone.wait()
    rc, out = await _fabric(e2e, tmp_path, owner, "recording", "list", "-o", "json")
    assert rc == 0, out
    (listed,) = json.loads(out)
    assert listed["consent"] == "CONSENT_EXTENSION_POLICY"
    rc, out = await _fabric(e2e, tmp_path, owner, "recording", "play", listed["recording_id"],
                            "--out", "call.wav")
    assert rc == 0, out
    wav = tmp_path / "call.wav"
    assert wav.stat().st_mode & 0o777 == 0o600
    count, rate, pcm = parse_pcm_wav(wav.read_bytes())
    assert (count, rate) == (2, 8000) and len(pcm) > 4 * len(HEARD)
    rc, out = await _fabric(e2e, tmp_path, owner, "cdr", "get", listed["call_id"], "-o", "json")
    assert rc == 0, out
    cdr = json.loads(out)
    assert cdr["recorded"] and cdr["recording_consent"] == "extension-policy"
    assert cdr["recording_ids"] == [listed["recording_id"]]

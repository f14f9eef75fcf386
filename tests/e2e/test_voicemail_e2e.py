"""Voicemail end to end: SDK softphones call an extension that does not answer; its mailbox
answers through the real media relay (greeting, beep, recording over real UDP SRTP, sealed
in the vault on the real Cassandra node), the message is read back through the gRPC API
over TLS on a real local Ray cluster, and transcribed by the fabric's own workers.

Checked: the recorded audio equals what the caller sent after the beep, sample for sample;
one CDR with disposition voicemail; MESSAGE_WAITING on the owner's Register stream (on
arrival and when the transcript is ready); the transcript's key words (when the model is
installed); '#', the maximum length and a hang-up during the greeting; isolation (a member
and another tenant); no plaintext audio in Cassandra's files, the Ray session or ``.run``.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import calls_e2e_harness as harness
import pytest
import pytest_asyncio
from calls_e2e_harness import ROOT, E2EFabric, start_fabric, stop_fabric
from store_files import SCAN_TABLE_OPTIONS, read_all

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.cdr import Disposition
from fabric.client import CallAudio, FabricClient, Softphone
from fabric.client.voicemail import VoicemailClient
from fabric.config import VaultSettings
from fabric.errors import NotFound, PermissionDenied
from fabric.media import g711
from fabric.testing import eventually

pytestmark = [pytest.mark.ray, pytest.mark.cassandra,
              pytest.mark.asyncio(loop_scope="module")]

SPEECH = ROOT / "tests" / "fixtures" / "speech"
KEEPALIVE_S = 0.5


def _fixture() -> tuple[bytes, list[str]]:
    """callback.wav as u-law (whole 20 ms frames) and its key words."""
    for line in (SPEECH / "texts.tsv").read_text().splitlines():
        if line.startswith("callback.wav\t"):
            words = line.split("\t")[1].split()
            ulaw = g711.read_wav_as_ulaw(SPEECH / "callback.wav")
            return ulaw[: len(ulaw) // 160 * 160], words
    raise AssertionError("tests/fixtures/speech/texts.tsv lists no callback.wav")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vm(
    cassandra_settings: Any, tmp_path_factory: pytest.TempPathFactory, ray_driver: Any
) -> AsyncIterator[E2EFabric]:
    """A fabric whose relays can record (they get the storage and vault settings), with
    the default media timeout."""
    real = harness.start_media

    async def recording_relays(settings: Any, **_: Any) -> Any:  # (whatever the harness gives)
        # the default media timeout (30 s): the CLI's phone sends RTCP every 5 s, and hears a
        # 7 s greeting before it speaks (the harness's 3 s would end its call)
        settings = settings.model_copy(update={"media_timeout_s": 30.0})
        return await real(settings, storage=cassandra_settings, vault=VaultSettings())

    harness.start_media = recording_relays  # type: ignore[assignment]
    try:
        fabric, _ = await start_fabric(cassandra_settings, tmp_path_factory.mktemp("vm-run"),
                                       ray_driver)
    finally:
        harness.start_media = real  # type: ignore[assignment]
    try:
        yield fabric
    finally:
        await stop_fabric(fabric)


@dataclass
class Office:
    """A tenant: its owner, Alice (101) and Bob (102, voicemail on), each with a key."""

    tenant_id: str
    owner: FabricClient
    alice: FabricClient
    bob: FabricClient


async def make_office(e2e: E2EFabric, ring_s: int = 5) -> Office:
    op = e2e.client()
    made = await op.create_tenant(f"Voicemail {time.monotonic_ns()}")
    owner = op.with_token(made.owner_api_key)
    clients = []
    for ext, name in (("101", "Alice"), ("102", "Bob")):
        user = await owner.create_user(name)
        await owner.put_extension(ext, user.user_id, voicemail=ext == "102",
                                  ring_timeout_s=ring_s)
        clients.append(owner.with_token((await owner.create_api_key(user.user_id)).secret))
    return Office(made.tenant.tenant_id, owner, clients[0], clients[1])


async def next_of(phone: Softphone, call_id: str, kind: int, timeout: float = 60.0) -> Any:
    """The next event of ``kind`` for ``call_id`` on ``phone`` (others skipped)."""
    return await phone.expect(kind, call_id, timeout_s=timeout)


async def leave_message(
    o: Office, caller: Softphone, speech: bytes, *, pound: bool = True
) -> tuple[str, CallAudio]:
    """Alice calls 102; once the mailbox answered and its greeting and beep are over she
    sends ``speech`` (then '#', unless ``pound`` is False). Returns the call id."""
    audio = CallAudio(keepalive_s=KEEPALIVE_S)
    info = await o.alice.dial("101", extension="102", media=audio.offer())
    await audio.start(info.media)
    if info.state != api_calls.CALL_STATE_ANSWERED:
        await next_of(caller, info.call_id, api_calls.CALL_EVENT_ANSWERED)
    frames = await VoicemailClient(o.owner).prompt_frames("102")
    assert await audio.wait_received(frames - 1, timeout_s=60), "no greeting heard"
    assert await audio.wait_prompt_end(quiet_s=0.3, timeout_s=10) >= frames - 1
    await audio.send_ulaw(speech)
    if pound:
        await audio.send_dtmf("#")
    return info.call_id, audio


def pcm_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return w.readframes(w.getnframes())


def content_tables_uncompressed(e2e: E2EFabric) -> None:
    """Make the content tables flush every second, uncompressed (for the raw scan)."""
    from fabric.storage.cassandra_session import connect_sync

    conn = connect_sync(e2e.settings.storage, use_keyspace=False)
    try:
        for table in ("content_chunks", "content_objects"):
            conn.session.execute(
                f"ALTER TABLE {e2e.settings.storage.keyspace}.{table} WITH {SCAN_TABLE_OPTIONS}"
            )
    finally:
        conn.shutdown()


async def test_a_message_left_read_back_sample_exact_with_cdr_event_and_transcript(
    vm: E2EFabric,
) -> None:
    started = time.time()
    content_tables_uncompressed(vm)
    o = await make_office(vm)
    speech, key_words = _fixture()
    async with Softphone(o.alice, "101") as alice_phone, Softphone(o.bob, "102") as bob_phone:
        call_id, audio = await leave_message(o, alice_phone, speech)
        try:
            await next_of(bob_phone, call_id, api_calls.CALL_EVENT_INCOMING)
            ended = await next_of(alice_phone, call_id, api_calls.CALL_EVENT_ENDED)
            assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
        finally:
            await audio.close()
        waiting = await next_of(bob_phone, call_id, api_calls.CALL_EVENT_MESSAGE_WAITING)
        assert waiting.message_waiting.mailbox == "102"
        assert waiting.message_waiting.unheard_count == 1
        assert not waiting.message_waiting.transcript_ready

        box = VoicemailClient(o.bob)
        [message] = await box.messages("102")
        assert (message.ended_by, getattr(message, "from"), message.heard) == ("dtmf", "101", False)
        assert message.duration_ms == len(speech) // 8
        recorded = pcm_of(await box.audio_bytes("102", message.message_id))
        assert recorded == g711.ulaw_to_pcm16(speech)  # sample-exact after the beep
        assert (await box.get("102", message.message_id)).heard  # streamed to its end

        async def cdr_written() -> bool:
            try:
                cdr = await vm.cdrs.get(o.tenant_id, call_id)
            except NotFound:
                return False
            return cdr.disposition == Disposition.VOICEMAIL

        await eventually(cdr_written, timeout=30, what="the call's CDR, disposition voicemail")

        async def transcribed() -> bool:
            got = await box.get("102", message.message_id)
            return got.transcript_status != api_vm.TRANSCRIPT_STATUS_PENDING

        await eventually(transcribed, timeout=240, what="the transcript's final status")
        got = await box.get("102", message.message_id)
        if (ROOT / ".cache" / "models" / "whisper-base").is_dir():
            assert got.transcript_status == api_vm.TRANSCRIPT_STATUS_DONE, got.transcript_reason
            text = got.transcript.lower()
            assert all(w in text for w in key_words), (key_words, text)
            ready = await next_of(bob_phone, call_id, api_calls.CALL_EVENT_MESSAGE_WAITING)
            assert ready.message_waiting.transcript_ready
        else:
            assert got.transcript_status == api_vm.TRANSCRIPT_STATUS_SKIPPED
    raw_scan(vm, o.tenant_id, recorded, speech, started)


def raw_scan(e2e: E2EFabric, tenant_id: str, pcm: bytes, ulaw: bytes, since: float) -> None:
    """No plaintext of the message (its PCM or the u-law sent) in Cassandra's flushed
    content tables and commit log, the Ray session's files or ``.run`` written since
    ``since``; the tenant id (plaintext by design) is found, proving the scan reads them."""
    from cluster.cassandra import DEFAULT_DIR, ClusterLayout

    storage = e2e.settings.storage
    layout = ClusterLayout.load(DEFAULT_DIR)
    node = next((n for n in (layout.nodes if layout else [])
                 if n.address == storage.cassandra_hosts[0]
                 and n.native_port == storage.cassandra_port), None)
    if node is None:
        pytest.fail(f"the raw scan reads the node's files: no local node under {DEFAULT_DIR}")
    mid = len(pcm) // 2
    needles = {"pcm": pcm[mid : mid + 64], "ulaw": ulaw[mid // 2 : mid // 2 + 48]}
    ks_dir = node.node_dir / "data" / storage.keyspace
    deadline = time.monotonic() + 90

    def content_files() -> list[Path]:
        return [p for d in ks_dir.glob("content_*-*") for p in d.rglob("*") if p.is_file()]

    while True:  # the content tables flush every second once altered
        flushed = read_all(content_files)
        if any(tenant_id.encode() in raw for p, raw in flushed.items()
               if p.name.endswith("-Data.db")):
            break
        assert time.monotonic() < deadline, "content tables not flushed within 90 s"
        time.sleep(0.5)

    def all_files() -> list[Path]:
        files = content_files()
        files += [p for p in (node.node_dir / "commitlog").rglob("*") if p.is_file()]
        for root in (Path(tempfile.gettempdir()) / "ray" / "session_latest", ROOT / ".run"):
            files += [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                      and "cassandra" not in p.parts and p.stat().st_mtime >= since - 1
                      and p.stat().st_size < 64 * 1024 * 1024]
        return files

    scanned = read_all(all_files)
    leaks = [f"{name} in {path}" for path, raw in scanned.items()
             for name, n in needles.items() if n in raw]
    assert leaks == []
    assert any(tenant_id.encode() in raw for p, raw in scanned.items()
               if p.name.endswith("-Data.db"))  # the scan sees the rows


async def test_hang_up_during_greeting_leaves_nothing_and_max_length_cuts(
    vm: E2EFabric,
) -> None:
    o = await make_office(vm)
    box = VoicemailClient(o.owner)
    async with Softphone(o.alice, "101") as alice_phone:  # 102 has no phone: straight in
        audio = CallAudio(keepalive_s=KEEPALIVE_S)
        info = await o.alice.dial("101", extension="102", media=audio.offer())
        assert info.state == api_calls.CALL_STATE_ANSWERED and info.answered_by == "102"
        await audio.start(info.media)
        assert await audio.wait_received(5, timeout_s=30)  # the greeting plays
        done = await o.alice.hangup(info.call_id)
        await audio.close()
        assert done.end_reason == api_calls.END_REASON_VOICEMAIL
        assert (await box.page("102")).total_count == 0

        async def cdr_voicemail() -> bool:
            try:
                return (await vm.cdrs.get(o.tenant_id, info.call_id)).disposition == (
                    Disposition.VOICEMAIL)
            except NotFound:
                return False

        await eventually(cdr_voicemail, timeout=30, what="the CDR of the call hung up early")

        await box.set_settings("102", max_message_s=10)
        call_id, audio = await leave_message(o, alice_phone, g711.sweep_ulaw(11.0), pound=False)
        try:
            ended = await next_of(alice_phone, call_id, api_calls.CALL_EVENT_ENDED)
            assert ended.end_reason == api_calls.END_REASON_VOICEMAIL
        finally:
            await audio.close()
    [message] = await box.messages("102")
    assert (message.ended_by, message.duration_ms) == ("max-length", 10_000)
    assert len(pcm_of(await box.audio_bytes("102", message.message_id))) == 10 * 16000


async def test_isolation_member_and_other_tenant(vm: E2EFabric) -> None:
    o = await make_office(vm)
    op = vm.client()
    made = await op.create_tenant(f"Other {uuid.uuid4().hex[:6]}")
    stranger = op.with_token(made.owner_api_key)
    with pytest.raises(PermissionDenied) as not_yours:
        await VoicemailClient(o.alice).page("102")  # Alice is a member; 102 is Bob's
    assert not_yours.value.error_id == "mailbox-not-yours"
    answers = []
    for mailbox in ("102", "999"):  # o's 102 seen from another tenant; a mailbox nowhere
        with pytest.raises(NotFound) as missing:
            await VoicemailClient(stranger).page(mailbox)
        answers.append((missing.value.code, missing.value.error_id))
    assert answers[0] == answers[1] == (answers[0][0], "mailbox-not-found")
    assert (await VoicemailClient(o.owner).page("102")).total_count == 0
    assert (await VoicemailClient(o.bob).page("102")).total_count == 0


async def fabric_cli(e2e: E2EFabric, cwd: Path, token: str, *args: str) -> tuple[int, str]:
    """``fabric --target T --ca CA ARGS`` as a user runs it (token in $FABRIC_TOKEN)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(cwd / "config"), FABRIC_TOKEN=token)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fabric.client.cli", "--target", e2e.target, "--ca",
        str(e2e.ca_file), *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_readme_walkthrough_with_the_cli(vm: E2EFabric, tmp_path: Path) -> None:
    op = vm.client()
    owner_key = (await op.create_tenant(f"CLI {uuid.uuid4().hex[:6]}")).owner_api_key
    owner = op.with_token(owner_key)
    for ext, name in (("101", "Alice"), ("102", "Bob")):
        user = await owner.create_user(name)
        await owner.put_extension(ext, user.user_id, voicemail=ext == "102")

    async def cli(*args: str) -> str:
        rc, out = await fabric_cli(vm, tmp_path, owner_key, *args)
        assert rc == 0 and "Traceback" not in out, out
        return out

    await cli("wav", "hello.wav")
    left = await cli("voicemail", "leave", "101", "102", "--wav", "hello.wav")
    assert "ended: voicemail" in left, left
    listed = json.loads(await cli("-o", "json", "voicemail", "list", "102"))
    assert len(listed) == 1, (left, listed)
    [message] = listed
    assert message["ended_by"] == "dtmf" and message["from"] == "101"
    shown = await cli("voicemail", "show", "102", message["message_id"])
    assert "transcript" in shown and "101" in shown
    played = await cli("voicemail", "play", "102", message["message_id"], "--out", "m.wav")
    assert "saved" in played
    sent = g711.ulaw_to_pcm16(g711.read_wav_as_ulaw(tmp_path / "hello.wav"))
    assert pcm_of((tmp_path / "m.wav").read_bytes()) == sent  # the tone, as sent
    assert stat.S_IMODE((tmp_path / "m.wav").stat().st_mode) == 0o600
    greeting = await cli("voicemail", "greeting", "102", "--upload", "hello.wav")
    assert "uploaded" in greeting
    await cli("voicemail", "delete", "102", message["message_id"], "--yes")
    assert json.loads(await cli("-o", "json", "voicemail", "list", "102")) == []
    rc, out = await fabric_cli(vm, tmp_path, owner_key, "voicemail", "list", "1x")
    assert rc == 2 and "2 to 8 digits" in out

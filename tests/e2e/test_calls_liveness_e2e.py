"""Calls whose parties vanish, with real processes: a ``fabric phone`` subprocess answers a
signalling-only call and is killed (SIGKILL) in the middle of it; the call ends within the
grace period plus one refresh interval, with exactly one CDR whose talk time stops at the
loss - also when the fabric restarts in between. A softphone that registers again within
the grace keeps its call; ``ListActiveCalls`` and ``GetCall`` agree after a restart; an
extension with no registration goes to voicemail at once; a ring group does not ring its
caller.

The fabric runs with short timers (``calls.party_grace_s`` and ``refresh_interval_s``, set
through the environment when the module's fabric is made), so each case takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from calls_e2e_harness import E2EFabric, restart_system, start_fabric, stop_fabric

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client import FabricClient, Softphone
from fabric.errors import NotFound, Unavailable
from fabric.testing import eventually

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]

GRACE_S = 8.0
REFRESH_S = 2.0
TIMERS = {
    "FABRIC_CALLS__PARTY_GRACE_S": str(GRACE_S),
    "FABRIC_CALLS__REFRESH_INTERVAL_S": str(REFRESH_S),
}
WAIT_S = 120.0  # a bound for a loaded 2-core machine, not a speed claim


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (the settings read them when made)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    cassandra_settings: object, tmp_path_factory: pytest.TempPathFactory, ray_driver: Any
) -> AsyncIterator[E2EFabric]:
    """One fabric with short party timers for the module."""
    with environment(TIMERS):
        fabric, _ = await start_fabric(
            cassandra_settings, tmp_path_factory.mktemp("liveness-run"), ray_driver
        )
    assert fabric.settings.calls.party_grace_s == GRACE_S
    try:
        yield fabric
    finally:
        await stop_fabric(fabric)


@dataclass
class Office:
    """A tenant with extensions 101-105, all one user's, and its owner's client."""

    owner: FabricClient
    key: str
    tenant_id: str


@pytest_asyncio.fixture(loop_scope="module")
async def office(live: E2EFabric) -> AsyncIterator[Office]:
    op = live.client()
    made = await op.create_tenant("Liveness")
    owner = op.with_token(made.owner_api_key)
    user = await owner.create_user("Desk")
    for ext in ("101", "102", "103", "105"):
        await owner.put_extension(ext, user.user_id, ring_timeout_s=60)
    await owner.put_extension("104", user.user_id, voicemail=True)
    try:
        yield Office(owner, made.owner_api_key, made.tenant.tenant_id)
    finally:
        await op.close()


async def start_phone(
    live: E2EFabric, key: str, extension: str, *extra: str
) -> subprocess.Popen[str]:
    """``fabric phone EXT --auto-answer`` as a real process; returns once it registered."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fabric.client.cli", "--target", live.target,
         "--ca", str(live.ca_file),
         "phone", extension, "--auto-answer", "--answer-after", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "FABRIC_TOKEN": key},  # the CLI takes no key on its command line
    )
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)  # "registered ..." (or it died)
    assert line.startswith("registered"), line
    return proc


async def answered(owner: FabricClient, call_id: str) -> api_calls.CallInfo:
    async def check() -> api_calls.CallInfo:
        info = await owner.get_call(call_id)
        assert info.state == api_calls.CALL_STATE_ANSWERED, info
        return info

    return await eventually(check, WAIT_S, 0.1, what="the call answered")


async def gone(owner: FabricClient, call_id: str) -> None:
    async def check() -> bool:
        try:
            info = await owner.get_call(call_id)
        except NotFound:
            return True  # ended, CDR written, state cleared
        assert info.state == api_calls.CALL_STATE_ENDED, info
        return True

    await eventually(check, WAIT_S, 0.2, what="the call ended", retry_on=(Unavailable,))


async def one_cdr(owner: FabricClient, call_id: str) -> Any:
    page = await owner.query_cdrs(int((time.time() - 3600) * 1000), page_size=1000)
    rows = [r for r in page.records if r.call_id == call_id]
    assert len(rows) == 1, rows
    return rows[0]


async def test_killed_phone_ends_its_call_with_one_cdr(live: E2EFabric, office: Office) -> None:
    phone = await start_phone(live, office.key, "103")
    try:
        call = await office.owner.dial("101", extension="103")  # like `fabric call dial 101 103`
        info = await answered(office.owner, call.call_id)
        killed_ms = int(time.time() * 1000)
        phone.send_signal(signal.SIGKILL)
        phone.wait()
    finally:
        if phone.poll() is None:
            phone.kill()
    await gone(office.owner, call.call_id)
    cdr = await one_cdr(office.owner, call.call_id)
    assert cdr.hangup_cause == "party-lost"
    # talk time stops at the loss (known to the gateway when the stream closed), not when
    # the grace ran out
    assert info.answered_at_ms <= cdr.ended_at_ms <= killed_ms + REFRESH_S * 1000
    assert cdr.ended_at_ms < killed_ms + GRACE_S * 1000


async def test_killed_phone_ends_its_call_across_a_restart(
    live: E2EFabric, office: Office
) -> None:
    phone = await start_phone(live, office.key, "103")
    try:
        call = await office.owner.dial("101", extension="103")
        info = await answered(office.owner, call.call_id)
        killed_ms = int(time.time() * 1000)
        phone.send_signal(signal.SIGKILL)
        phone.wait()
    finally:
        if phone.poll() is None:
            phone.kill()
    await restart_system(live)  # the tenant forgets every registration; the call is saved
    owner = FabricClient(live.target, office.key, ca_file=live.ca_file)
    try:
        await gone(owner, call.call_id)
        cdr = await one_cdr(owner, call.call_id)
        assert cdr.hangup_cause == "party-lost"
        # after a restart the loss is known from when the party was last seen registered
        assert info.answered_at_ms <= cdr.ended_at_ms <= killed_ms + REFRESH_S * 1000
    finally:
        await owner.close()


async def test_phone_that_registers_again_keeps_its_call_and_the_list_agrees(
    live: E2EFabric, office: Office
) -> None:
    client = FabricClient(live.target, office.key, ca_file=live.ca_file)
    seen: list[str] = []
    phone = Softphone(client, "105", backoff_s=0.2, backoff_max_s=1.0, give_up_s=WAIT_S,
                      on_connection=lambda e: seen.append(e.state.value))
    try:
        await phone.register()
        call = await office.owner.dial("101", extension="105")
        await phone.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await client.answer(call.call_id, "105")
        await restart_system(live)  # the stream breaks; the phone registers again
        await eventually(lambda: "reregistered" in seen, WAIT_S, 0.1, what="re-registered")
        owner = FabricClient(live.target, office.key, ca_file=live.ca_file)
        try:
            listed = await eventually(owner.active_calls, WAIT_S, 0.2, what="a listed call",
                                      retry_on=(Unavailable,))
            assert [c.call_id for c in listed] == [call.call_id]
            assert listed[0].state == api_calls.CALL_STATE_ANSWERED
            assert (await owner.get_call(call.call_id)).state == api_calls.CALL_STATE_ANSWERED
            # what is tested is that nothing happens for longer than the grace and two
            # session checks: a wait for time to pass, not for a condition
            await asyncio.sleep(GRACE_S + 2 * REFRESH_S)
            assert (await owner.get_call(call.call_id)).state == api_calls.CALL_STATE_ANSWERED
            await owner.hangup(call.call_id)
            ended = await phone.expect(api_calls.CALL_EVENT_ENDED, call.call_id, WAIT_S)
            assert ended.end_reason == api_calls.END_REASON_COMPLETED
            assert await owner.active_calls() == []
        finally:
            await owner.close()
    finally:
        await phone.close()
        await client.close()


async def test_unregistered_extension_goes_to_voicemail_at_once(office: Office) -> None:
    info = await office.owner.dial("101", extension="104")  # 104: voicemail, no phone
    assert info.state == api_calls.CALL_STATE_ENDED
    assert info.end_reason == api_calls.END_REASON_VOICEMAIL


async def test_ring_group_does_not_ring_its_caller(live: E2EFabric, office: Office) -> None:
    await office.owner.put_ring_group("desk", ["101", "102"])
    [number] = await live.client().allocate_numbers(office.tenant_id, count=1)
    await office.owner.route_number(number, ring_group="desk")
    async with Softphone(office.owner, "101") as p1, Softphone(office.owner, "102") as p2:
        call = await office.owner.dial("101", number=number)
        assert list(call.ringing) == ["102"]
        await p2.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
        await p1.expect(api_calls.CALL_EVENT_RINGING, call.call_id)
        await office.owner.answer(call.call_id, "102")
        await p1.expect(api_calls.CALL_EVENT_ANSWERED, call.call_id)
        await office.owner.hangup(call.call_id)
        ev = await p1.expect(api_calls.CALL_EVENT_ENDED, call.call_id)
        assert ev.end_reason == api_calls.END_REASON_COMPLETED
        assert not any(
            e.type == api_calls.CALL_EVENT_INCOMING and e.call_id == call.call_id
            for e in p1.history
        )
    _ = api_tenant  # (ring strategies: all at once by default)


async def read_until(proc: subprocess.Popen[str], text: str) -> str:
    """The phone's output up to the first line holding ``text``."""
    assert proc.stdout is not None
    seen = ""
    while text not in seen:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), WAIT_S)
        assert line, f"the phone exited before saying {text!r}: {seen}"
        seen += line
    return seen


async def test_cli_phone_asked_for_audio_answers_a_call_without_it(
    live: E2EFabric, office: Office, tmp_path: Path
) -> None:
    from fabric.media.g711 import sweep_ulaw, write_ulaw_wav

    write_ulaw_wav(tmp_path / "tone.wav", sweep_ulaw(1.0))
    phone = await start_phone(
        live, office.key, "102", "--wav", str(tmp_path / "tone.wav"),
        "--record", str(tmp_path / "heard.wav"),
    )
    try:
        call = await office.owner.dial("101", extension="102")  # no media offered
        await answered(office.owner, call.call_id)
        said = await read_until(phone, "signalling-only")
        assert "carries no audio" in said
        await office.owner.hangup(call.call_id)
        await read_until(phone, "ended")
        assert phone.poll() is None  # it keeps running (it used to exit with status 1)
    finally:
        phone.terminate()
        phone.wait()

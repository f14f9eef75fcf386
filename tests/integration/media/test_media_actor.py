"""The media relay Ray actors: 1,000 calls set up and torn down, errors and a crash, no leak."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from fabric.client.phone_media import SoftphoneMedia
from fabric.config import MediaSettings
from fabric.errors import InvalidArgument, NotFound, Unavailable
from fabric.media import g711
from fabric.media.relay_actor import MediaControl, start_media_relays_on_every_node
from fabric.media.types import MediaOffer
from fabric.testing import eventually

pytestmark = pytest.mark.ray

SETTINGS = MediaSettings(port_min=22200, port_max=22399, media_timeout_s=0.5, relays_per_node=2)


@pytest.fixture(scope="module")
def relays(ray_driver: Any) -> Iterator[list[Any]]:
    """The relays of every node of the session's Ray cluster (in this module's own job)."""
    handles = start_media_relays_on_every_node(SETTINGS)
    alive = sum(1 for n in ray.nodes() if n["Alive"])
    assert len(handles) == SETTINGS.relays_per_node * alive
    ray.get([h.counts.remote() for h in handles])
    yield handles
    for handle in handles:
        try:
            ray.get(handle.shutdown.remote(), timeout=30)
        except ray.exceptions.RayError:
            pass  # a relay a test killed may still be restarting


async def one_call(control: MediaControl, i: int, used: set[int]) -> str:
    call = f"call-{i}"
    await control.allocate_session(call)
    await control.allocate_session(call)  # idempotent
    kind = i % 10
    if kind == 0:  # a bad offer halfway through setup
        answer = await control.add_leg(call, "a", SoftphoneMedia().offer())
        used.add(answer.relay_port)
        with pytest.raises(InvalidArgument):
            await control.add_leg(call, "b", MediaOffer("AES_CM_128_HMAC_SHA1_80", b"x", b"y"))
    elif kind == 1:  # released before any leg, twice
        await control.release_session(call)
    elif kind == 2:  # a leg added after the call ended
        await control.release_session(call)
        with pytest.raises(NotFound):
            await control.add_leg(call, "a", SoftphoneMedia().offer())
        return "late"
    elif kind == 3:  # the same leg offered twice gets the same answer
        offer = SoftphoneMedia().offer()
        first = await control.add_leg(call, "a", offer)
        assert await control.add_leg(call, "a", offer) == first
        used.add(first.relay_port)
    else:
        for leg in ("a", "b"):
            used.add((await control.add_leg(call, leg, SoftphoneMedia().offer())).relay_port)
    report = await control.release_session(call)
    return f"legs={len(report.legs)}"


async def test_media_thousand_calls_leave_no_port_or_session(relays: list[Any]) -> None:
    control = MediaControl(relays)
    used: set[int] = set()
    outcomes: list[str] = []
    for start in range(0, 1000, 50):
        outcomes += await asyncio.gather(
            *(one_call(control, i, used) for i in range(start, start + 50))
        )
    assert outcomes.count("late") == 100
    assert outcomes.count("legs=2") == 600
    counts = [await relay.counts.remote() for relay in relays]
    for c in counts:
        assert (c["sessions"], c["legs"], c["ports_in_use"]) == (0, 0, 0)
    assert sum(c["sessions_total"] for c in counts) >= 1000
    for port in sorted(used):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
    text = await control.metrics_text()
    assert 'fabric_media_sessions_active{relay="0"} 0.0' in text
    assert 'fabric_media_ports_in_use{relay="1"} 0.0' in text
    assert "call-" not in text


async def test_media_relay_crash_frees_ports_and_comes_back(relays: list[Any]) -> None:
    control = MediaControl(relays)
    calls = [f"crash-{i}" for i in range(40)]
    on_zero = [c for c in calls if control.relay_for(c) is relays[0]][:5]
    used: set[int] = set()
    for call in on_zero:
        await control.allocate_session(call)
        used.add((await control.add_leg(call, "a", SoftphoneMedia().offer())).relay_port)
    assert (await relays[0].counts.remote())["ports_in_use"] == 5
    ray.kill(relays[0], no_restart=False)

    async def restarted_empty() -> dict[str, int]:  # the kill is asynchronous
        counts: dict[str, int] = await relays[0].counts.remote()
        assert counts["sessions"] == 0, counts
        return counts

    counts = await eventually(restarted_empty, 30, 0.05, what="the relay restarted empty",
                              retry_on=(ray.exceptions.RayActorError,))
    assert counts["ports_in_use"] == 0
    for port in sorted(used):  # the dead process's sockets are gone
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
    with pytest.raises(NotFound):
        await control.session_status(on_zero[0])
    report = await control.release_session(on_zero[0])  # a release after the crash is fine
    assert report.legs == []
    await control.allocate_session("after-crash")
    await control.release_session("after-crash")


async def test_media_timeout_reaches_the_control_client(relays: list[Any]) -> None:
    control = MediaControl(relays)
    call = "quiet-call"
    await control.allocate_session(call)
    phones = [SoftphoneMedia(), SoftphoneMedia()]
    for leg, phone in zip("ab", phones, strict=True):
        await phone.start(await control.add_leg(call, leg, phone.offer()))
    await asyncio.gather(*(p.send_ulaw(g711.sweep_ulaw(0.1)) for p in phones))
    seen: list[str] = []

    async def on_timeout(call_id: str) -> None:
        seen.append(call_id)

    watcher = asyncio.create_task(control.watch_timeouts(on_timeout, interval_s=0.05))
    await eventually(lambda: seen, what="the media time-out reported")
    watcher.cancel()
    assert seen == [call]
    status = await control.session_status(call)
    assert status.reason == "media-timeout"
    report = await control.release_session(call)
    assert report.timed_out and report.cdr_fields()["packets_received"] == 10
    for phone in phones:
        await phone.close()


async def test_media_unavailable_when_relay_is_gone(relays: list[Any]) -> None:
    @ray.remote
    class Gone:
        def allocate_session(self, call_id: str) -> None:
            raise SystemExit(1)

    gone = Gone.remote()  # type: ignore[attr-defined]
    with pytest.raises(Unavailable):
        await MediaControl([gone]).allocate_session("x")

"""The relay engine on real UDP sockets (no Ray): audio crosses exactly, attacks are counted."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabric.client.phone_media import SoftphoneMedia
from fabric.media import g711
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.suites import SrtpSuite
from fabric.testing import eventually

PORTS = (22000, 22099)


class RecordingSoftphone(SoftphoneMedia):
    """A softphone that keeps what it sent, so a test can replay it."""

    def __init__(self, suite: SrtpSuite) -> None:
        super().__init__(suite)
        self.sent: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.sent.append(data)
        super().send_raw(data)


@pytest.fixture
async def relay() -> AsyncIterator[RelayEngine]:
    engine = RelayEngine(
        RelayConfig(
            port_min=PORTS[0], port_max=PORTS[1], media_timeout_s=0.4, sweep_interval_s=0.05
        )
    )
    engine.start()
    yield engine
    await engine.close()
    assert engine.ports.in_use == 0


async def connect(
    relay: RelayEngine, call_id: str, suites: tuple[SrtpSuite, SrtpSuite]
) -> tuple[RecordingSoftphone, RecordingSoftphone]:
    relay.allocate_session(call_id)
    phones = (RecordingSoftphone(suites[0]), RecordingSoftphone(suites[1]))
    for name, phone in zip("ab", phones, strict=True):
        await phone.start(await relay.add_leg(call_id, name, phone.offer()))
        phone.latch()
    await eventually(lambda: all(leg.latched for leg in relay.session_status(call_id).legs),
                     what=f"both legs of {call_id} latched")
    return phones


@pytest.mark.parametrize(
    "suites",
    [
        (SrtpSuite.AES_CM_128_HMAC_SHA1_80, SrtpSuite.AES_CM_128_HMAC_SHA1_80),
        (SrtpSuite.AES_CM_128_HMAC_SHA1_80, SrtpSuite.AEAD_AES_256_GCM),
    ],
)
async def test_media_wav_crosses_both_ways_sample_exact(
    relay: RelayEngine, tmp_path: Path, suites: tuple[SrtpSuite, SrtpSuite]
) -> None:
    a, b = await connect(relay, "call-wav", suites)
    wav_a, wav_b = tmp_path / "a.wav", tmp_path / "b.wav"
    g711.write_ulaw_wav(wav_a, g711.sweep_ulaw(1.0))
    g711.write_ulaw_wav(
        wav_b, g711.ulaw_encode([-s for s in g711.ulaw_decode(g711.sweep_ulaw(1.0))])
    )
    sent = await asyncio.gather(a.send_wav(wav_a), b.send_wav(wav_b))
    assert sent == [50, 50]
    assert await a.wait_received(50, 5.0) and await b.wait_received(50, 5.0)
    a.save_recording(tmp_path / "a-heard.wav")
    b.save_recording(tmp_path / "b-heard.wav")
    assert g711.read_wav_as_ulaw(tmp_path / "b-heard.wav") == g711.read_wav_as_ulaw(wav_a)
    assert g711.read_wav_as_ulaw(tmp_path / "a-heard.wav") == g711.read_wav_as_ulaw(wav_b)
    report = await relay.release_session("call-wav")
    for leg in report.legs:
        assert (leg.packets_in, leg.packets_out, leg.packets_lost) == (50, 50, 0)
        assert sum(leg.drops.values()) == 0
    await a.close()
    await b.close()


async def test_media_attacks_are_dropped_and_counted_audio_unaffected(relay: RelayEngine) -> None:
    a, b = await connect(relay, "call-attack", (SrtpSuite.AES_CM_128_HMAC_SHA1_80,) * 2)
    audio_a, audio_b = g711.sweep_ulaw(1.0), g711.sweep_ulaw(1.0)[::-1]
    third = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    third.bind(("127.0.0.1", 0))
    leg_a_port = relay.sessions["call-attack"].legs["a"].port  # type: ignore[attr-defined]
    target = ("127.0.0.1", leg_a_port)

    async def attack() -> None:
        await eventually(lambda: len(a.sent) >= 10, what="A sent 10 packets")
        for round_ in range(5):
            captured = a.sent[3:8]
            for packet in captured:
                a.send_raw(packet)  # replay from the legitimate address
                tampered = bytearray(packet)
                tampered[-1] ^= 0x55  # bad tag, on a sequence number not seen yet
                seq = (int.from_bytes(packet[2:4], "big") + 20000) & 0xFFFF
                tampered[2:4] = seq.to_bytes(2, "big")
                a.send_raw(bytes(tampered))
                third.sendto(packet, target)  # a valid packet from a third address
            for size in (3, 12, 40, 172, 600):
                a.send_raw(os.urandom(size))  # garbage from the legitimate address
                third.sendto(os.urandom(size), target)
            # spread the rounds over the call: the next one once B heard 5 more of A's frames
            await eventually(lambda r=round_: b.packets_received >= 5 * (r + 2),
                             what="B heard more of A")

    await asyncio.gather(a.send_ulaw(audio_a), b.send_ulaw(audio_b), attack())
    assert await a.wait_received(50, 5.0) and await b.wait_received(50, 5.0)
    assert b.recording() == audio_a
    assert a.recording() == audio_b
    drops = relay.session_status("call-attack").stats.legs[0].drops
    assert drops["replay"] >= 25
    assert drops["unexpected-source"] >= 25 + 25
    assert drops["auth-failed"] >= 25
    assert drops["auth-failed"] + drops["malformed"] >= 25 + 25
    report = await relay.release_session("call-attack")
    assert report.legs[0].packets_in == 50 and report.legs[1].packets_out == 50
    totals = relay.totals()
    assert totals.drops_replay >= 25
    third.close()
    await a.close()
    await b.close()


async def test_media_fresh_packet_from_a_third_address_is_dropped_and_counted(
    relay: RelayEngine,
) -> None:
    """A valid SRTP packet, A's key and A's next sequence number, sent from elsewhere after
    the leg latched: not a replay (libsrtp would accept it), so only the source check stops it."""
    a, b = await connect(relay, "call-third", (SrtpSuite.AES_CM_128_HMAC_SHA1_80,) * 2)
    leg_a_port = relay.sessions["call-third"].legs["a"].port  # type: ignore[attr-defined]
    spoofed, genuine = bytes([0x55]) * 160, bytes([0x11]) * 160
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as third:
        third.bind(("127.0.0.1", 0))
        third.sendto(a.protect_frame(spoofed), ("127.0.0.1", leg_a_port))
    a.send_raw(a.protect_frame(genuine))  # after it, from the latched address
    await eventually(lambda: genuine in b.recording(), what="B heard A's genuine frame")
    assert b.recording() == genuine and b.packets_received == 1  # the spoofed one never came
    leg_a = relay.session_status("call-third").stats.legs[0]
    assert leg_a.drops["unexpected-source"] == 1
    assert leg_a.packets_in == 1
    await relay.release_session("call-third")
    await a.close()
    await b.close()


async def test_media_silent_leg_times_out(relay: RelayEngine) -> None:
    a, b = await connect(relay, "call-quiet", (SrtpSuite.AEAD_AES_256_GCM,) * 2)
    await asyncio.gather(a.send_ulaw(g711.sweep_ulaw(0.1)), b.send_ulaw(g711.sweep_ulaw(0.1)))
    timed_out: list[str] = []

    def drained() -> list[str]:
        timed_out.extend(relay.drain_timeouts())
        return timed_out

    await eventually(drained, what="the silent call reported")
    assert timed_out == ["call-quiet"]
    status = relay.session_status("call-quiet")
    assert status.timed_out and status.reason == "media-timeout"
    report = await relay.release_session("call-quiet")
    assert report.timed_out
    await a.close()
    await b.close()


async def test_media_ports_return_after_many_sessions(relay: RelayEngine) -> None:
    used: set[int] = set()
    for round_ in range(3):
        for i in range(40):
            call = f"c{round_}-{i}"
            relay.allocate_session(call)
            phone = SoftphoneMedia()
            used.add((await relay.add_leg(call, "a", phone.offer())).relay_port)
            used.add((await relay.add_leg(call, "b", phone.offer())).relay_port)
        assert relay.ports.in_use == 80
        for i in range(40):
            await relay.release_session(f"c{round_}-{i}")
        await eventually(lambda: relay.ports.in_use == 0 and relay.sessions == {},
                         what="every port given back")
    # every port the relay used can be bound again: no socket is left open
    assert len(used) > 80
    for port in sorted(used):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))

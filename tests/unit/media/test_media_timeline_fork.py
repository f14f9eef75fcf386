"""Recording timelines (pure, clock passed in) and the fork's tap with fakes: alignment of
channels, gaps, late and reordered packets, pause re-anchoring, drops when behind."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from fabric.media import g711
from fabric.media.feature_types import ForkSpec, SealTarget
from fabric.media.fork import MAX_QUEUED_PACKETS, ForkRecorder
from fabric.media.legs import Leg
from fabric.media.rtp import RtpHeader, build_rtp
from fabric.media.session import RelaySession
from fabric.media.timeline import ForkMixer, MonoTrack, deinterleave, interleave
from fabric.media.wavstream import wav_header
from fabric.testing import eventually
from fabric.vault.content import ContentInfo


def pcm(value: int, samples: int = 160) -> bytes:
    return value.to_bytes(2, "little", signed=True) * samples


def test_mono_track_fills_gaps_and_drops_late_and_repeated() -> None:
    t = MonoTrack()
    assert t.place(7, 1000, pcm(1)) == pcm(1)
    assert t.place(7, 1320, pcm(3)) == pcm(0) + pcm(3)  # one frame lost: silence
    assert t.place(7, 1160, pcm(2)) == b""  # late: already filled
    assert t.place(7, 1320, pcm(3)) == b""  # repeated
    assert t.place(7, 1000 - 160, pcm(9)) == b""  # before the first
    assert (t.written, t.late, t.filled) == (480, 3, 160)


def test_mono_track_new_ssrc_or_jump_continues_where_audio_stopped() -> None:
    t = MonoTrack()
    t.place(1, 0xFFFFFF60, pcm(1))
    assert t.place(1, 0, pcm(2)) == pcm(2)  # timestamp wrap-around
    assert t.place(2, 5, pcm(3)) == pcm(3)  # another SSRC: appended
    assert t.place(2, 5 + 10 * 8000, pcm(4)) == pcm(4)  # a 10 s jump is no 10 s gap
    assert t.written == 640


def code(value: int, samples: int = 160) -> bytes:
    """µ-law codes of one level (decoded by the mixer when it emits)."""
    return g711.ulaw_encode([value]) * samples


def dec(codes: bytes) -> bytes:
    return g711.ulaw_bytes_to_pcm16(codes)


def test_mixer_aligns_channels_by_arrival_then_timestamp() -> None:
    m = ForkMixer(2, jitter_samples=0)
    # A's first frame arrives at 0.02 s (so it covers 0..160), B's at 0.06 s (320..480)
    m.put(0, 11, 5000, code(1000), 0.02)
    m.put(1, 22, 90000, code(-2000), 0.06)
    m.put(0, 11, 5160, code(1000), 0.045)  # jitter on arrival does not move it: by timestamp
    m.put(1, 22, 90160, code(-2000), 0.08)
    a, b = deinterleave(m.flush(0.1), 2)
    assert a == dec(code(1000, 320)) + pcm(0, 480)
    assert b == pcm(0, 320) + dec(code(-2000, 320)) + pcm(0, 160)
    assert m.emitted == 800


def test_mixer_decodes_alaw_channels() -> None:
    m = ForkMixer(2, jitter_samples=0)
    alaw = g711.alaw_encode([3000]) * 160
    m.put(0, 1, 0, alaw, 0.02, alaw=True)
    m.put(1, 2, 0, code(3000), 0.02)
    a, b = deinterleave(m.flush(0.02), 2)
    assert a == g711.alaw_bytes_to_pcm16(alaw) and b == dec(code(3000))


def test_mixer_holds_blocks_for_jitter_and_drops_what_comes_too_late() -> None:
    m = ForkMixer(1, jitter_samples=800)
    m.put(0, 1, 0, code(100), 0.02)
    assert m.flush(0.05) == b""  # still inside the jitter window
    m.put(0, 1, 320, code(300), 0.06)
    m.put(0, 1, 160, code(200), 0.07)  # reordered but in time: placed
    out = m.flush(0.16)  # up to 0.16 s less 0.1 s of jitter
    assert out == dec(code(100) + code(200) + code(300))
    m.put(0, 1, 160, code(500), 0.17)  # a copy of an emitted block: dropped
    assert m.late == 1
    assert m.flush(0.2, final=True) == b""


def test_mixer_reanchors_after_a_pause() -> None:
    m = ForkMixer(1, jitter_samples=0)
    m.put(0, 1, 0, code(100), 0.02)
    assert m.flush(0.0, final=True) == dec(code(100))
    m.reanchor_all()  # resumed at timeline 0.02 s; the stream's timestamps moved on by 10 s
    m.put(0, 1, 80000, code(200), 0.04)
    assert m.flush(0.04) == dec(code(200))


def test_interleave_round_trip() -> None:
    a, b, c = pcm(1, 5), pcm(-2, 5), pcm(3, 5)
    assert deinterleave(interleave([a, b, c]), 3) == [a, b, c]
    assert interleave([a]) == a


class FakeLeg(Leg):
    def __init__(self, leg_id: str) -> None:
        super().__init__(leg_id, "fake")
        self.sent: list[bytes] = []

    def send_rtp(self, plain: bytes) -> bool:
        self.sent.append(plain)
        return True


class FakeStore:
    """The content store's put: collects the stream."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, tenant_id: str, data_class: str, object_id: str,
                  data: AsyncIterable[bytes], metadata: dict[str, str] | None = None) -> Any:
        self.objects[object_id] = b"".join([piece async for piece in data])
        return ContentInfo(tenant_id, data_class, object_id, len(self.objects[object_id]), 0.0)


async def test_fork_tap_never_blocks_and_counts_drops_when_behind() -> None:
    store = FakeStore()

    async def opener() -> Any:
        return store

    session = RelaySession("c1")
    a, b = FakeLeg("a"), FakeLeg("b")
    session.add(a)
    session.add(b)
    spec = ForkSpec(SealTarget("t1", "recording", "r1"), announcement_prompt="")
    fork = ForkRecorder(session, spec, opener, lambda event: None)
    assert a.tap is not None and b.tap is not None
    packet = build_rtp(RtpHeader(0, 1, 160, 9), b"\xff" * 160)
    for _ in range(MAX_QUEUED_PACKETS + 5):  # the recorder task never ran: it is behind
        a.tap(packet, 0.0)
    assert fork.drops == 5
    finished = await fork.stop()
    assert finished.recorded and finished.info.drops >= 5
    assert a.tap is None and b.tap is None  # forwarding is back to the bare path
    assert store.objects["r1"][:4] == b"RIFF"


async def test_announcement_mutes_forwarding_and_plays_to_every_party() -> None:
    store = FakeStore()

    async def opener() -> Any:
        return store

    session = RelaySession("c2")
    a, b = FakeLeg("a"), FakeLeg("b")
    session.add(a)
    session.add(b)
    wav = b"RIFF" + (36 + 640).to_bytes(4, "little") + b"WAVEfmt " + bytes.fromhex(
        "1000000001000100401f0000803e00000200100064617461") + (640).to_bytes(4, "little")
    spec = ForkSpec(SealTarget("t1", "recording", "r2"), announcement=wav + bytes(640))
    fork = ForkRecorder(session, spec, opener, lambda event: None)
    await eventually(lambda: a.sent and b.sent, what="the announcement's first frame")
    assert session.muted and a.peers != (b,)  # the parties hear only the announcement
    await fork.stop()
    assert not session.muted and a.peers == (b,) and b.peers == (a,)


async def test_hold_during_the_announcement_starts_the_recording_paused() -> None:
    store = FakeStore()

    async def opener() -> Any:
        return store

    session = RelaySession("c3")
    a, b = FakeLeg("a"), FakeLeg("b")
    session.add(a)
    session.add(b)
    wav = wav_header(1, 640) + bytes(640)  # 40 ms: two frames
    fork = ForkRecorder(session, ForkSpec(SealTarget("t1", "recording", "r3"), announcement=wav),
                        opener, lambda event: None)
    assert fork.pause().state == "announcing"
    await eventually(lambda: fork.state != "announcing", what="the announcement played")
    assert fork.state == "paused"
    assert fork.resume().state == "recording"
    await fork.stop()


async def test_a_reaped_session_stops_and_seals_its_fork() -> None:
    from fabric.media.engine import RelayConfig, RelayEngine
    from fabric.media.feature_types import ForkFinished

    store = FakeStore()

    async def opener() -> Any:
        return store

    engine = RelayEngine(RelayConfig(port_min=40100, port_max=40110, idle_session_s=1.0),
                         opener)
    engine.allocate_session("c4")
    for leg_id in ("a", "b"):
        engine.sessions["c4"].add(FakeLeg(leg_id))
    engine.start_fork("c4", ForkSpec(SealTarget("t1", "recording", "r4"), announcement_prompt=""))
    engine.sweep(engine.sessions["c4"].created + 5.0)  # nobody sent anything: an orphan
    assert "c4" not in engine.sessions
    events: list[object] = []

    def sealed() -> bool:
        events.extend(engine.drain_events())
        return any(isinstance(e, ForkFinished) for e in events)

    await eventually(sealed, what="the orphan's fork sealed")
    assert "r4" in store.objects and not engine.features.forks
    await engine.close()

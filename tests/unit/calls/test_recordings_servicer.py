"""The Recordings servicer over real index and settings actors (one process): listing by
time range, extension and pages across month shards; reach (admins all, a member their
calls', another tenant NOT_FOUND); settings with the prompt check; bad input refused."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from actors.api.recordings import RecordingsServicer
from actors.messages.v1 import recording_pb2 as msg_rec
from actors.recording_index import (
    RecordingIndex,
    RecordingSettingsActor,
    index_address,
    new_recording_id,
    settings_address,
)
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.edge.auth import Principal, Role, current_principal
from fabric.errors import InvalidArgument, NotFound, PermissionDenied
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock

DAY_MS = 24 * 3600 * 1000
NOW_MS = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
async def system() -> AsyncIterator[LocalActorSystem]:
    system = LocalActorSystem([RecordingIndex, RecordingSettingsActor], clock=ManualClock(),
                              background=False)
    await system.start()
    yield system
    await system.stop()


@contextmanager
def as_(role: Role, tenant: str = "t-1", user: str = "u-admin") -> Iterator[None]:
    token = current_principal.set(Principal(role, tenant, user))
    try:
        yield
    finally:
        current_principal.reset(token)


async def put(system: LocalActorSystem, n: int, days_ago: int, ext: str, user: str) -> str:
    started = NOW_MS - days_ago * DAY_MS
    rid = new_recording_id(f"{n:032x}", started, 1)
    entry = msg_rec.IndexedRecording(
        recording=api_rec.Recording(recording_id=rid, call_id=f"{n:032x}", tenant_id="t-1",
                                    extensions=["100", ext], started_at_ms=started,
                                    state=api_rec.RECORDING_STOPPED),
        user_ids=["u-100", user])
    await system.ref(index_address("t-1", started)).ask(msg_rec.PutRecording(entry=entry))
    return rid


class Clock:
    def now(self) -> float:
        return NOW_MS / 1000


async def test_lists_newest_first_across_months_by_page_and_extension(
    system: LocalActorSystem,
) -> None:
    ids = [await put(system, n, days_ago=n * 9, ext=f"10{n % 2 + 1}", user=f"u-{n % 2}")
           for n in range(8)]  # 0 to 63 days ago: three months
    servicer = RecordingsServicer(system, None, clock=Clock())  # type: ignore[arg-type]
    with as_(Role.ADMIN):
        seen, token = [], ""
        while True:
            page = await servicer.ListRecordings(
                api_rec.ListRecordingsRequest(start_ms=NOW_MS - 70 * DAY_MS, page_size=3,
                                              page_token=token), None)  # type: ignore[arg-type]
            assert len(page.recordings) <= 3
            seen += [r.recording_id for r in page.recordings]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids  # newest first, each once
        page = await servicer.ListRecordings(api_rec.ListRecordingsRequest(
            start_ms=NOW_MS - 70 * DAY_MS, extension="102"), None)  # type: ignore[arg-type]
        assert [r.recording_id for r in page.recordings] == ids[1::2]
        default = await servicer.ListRecordings(api_rec.ListRecordingsRequest(), None)  # type: ignore[arg-type]
        assert [r.recording_id for r in default.recordings] == ids[:4]  # the last 30 days
        for bad in (api_rec.ListRecordingsRequest(page_token="nonsense"),
                    api_rec.ListRecordingsRequest(start_ms=NOW_MS, end_ms=NOW_MS - 1),
                    api_rec.ListRecordingsRequest(page_size=1001),
                    api_rec.ListRecordingsRequest(extension="1")):
            with pytest.raises(InvalidArgument):
                await servicer.ListRecordings(bad, None)  # type: ignore[arg-type]
    with as_(Role.MEMBER, user="u-1"):  # a member: their calls' recordings only
        page = await servicer.ListRecordings(api_rec.ListRecordingsRequest(
            start_ms=NOW_MS - 70 * DAY_MS), None)  # type: ignore[arg-type]
        assert [r.recording_id for r in page.recordings] == ids[1::2]
        ref = api_rec.RecordingRef(recording_id=ids[1])
        assert (await servicer.GetRecording(ref, None)).recording_id == ids[1]  # type: ignore[arg-type]
        with pytest.raises(PermissionDenied) as denied:
            await servicer.GetRecording(api_rec.RecordingRef(recording_id=ids[0]), None)  # type: ignore[arg-type]
        assert denied.value.error_id == "recording-not-yours"
    with as_(Role.OWNER, tenant="t-2", user="u-other"):  # another tenant
        with pytest.raises(NotFound) as missing:
            await servicer.GetRecording(api_rec.RecordingRef(recording_id=ids[0]), None)  # type: ignore[arg-type]
        assert missing.value.error_id == "recording-not-found"
        listed = await servicer.ListRecordings(api_rec.ListRecordingsRequest(
            start_ms=NOW_MS - 70 * DAY_MS), None)  # type: ignore[arg-type]
        assert list(listed.recordings) == []
        with pytest.raises(InvalidArgument):
            await servicer.GetRecording(api_rec.RecordingRef(recording_id="x"), None)  # type: ignore[arg-type]


def _wav(pcm: bytes, rate: int = 8000, channels: int = 1) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm)


async def test_settings_keep_a_checked_prompt(system: LocalActorSystem) -> None:
    servicer = RecordingsServicer(system, None, clock=Clock())  # type: ignore[arg-type]
    with as_(Role.ADMIN):
        got = await servicer.GetRecordingSettings(api_rec.GetRecordingSettingsRequest(), None)  # type: ignore[arg-type]
        assert (got.all_party_consent, got.objection_digit, got.has_custom_announcement) == (
            False, "9", False)
        prompt = _wav(b"\x01\x00" * 8000)
        set_ = api_rec.SetRecordingSettingsRequest(settings=api_rec.RecordingSettings(
            all_party_consent=True, objection_digit="#", announcement_wav=prompt))
        got = await servicer.SetRecordingSettings(set_, None)  # type: ignore[arg-type]
        assert (got.all_party_consent, got.objection_digit, got.has_custom_announcement) == (
            True, "#", True)
        keep = api_rec.SetRecordingSettingsRequest(settings=api_rec.RecordingSettings(
            all_party_consent=False, keep_announcement=True))
        assert (await servicer.SetRecordingSettings(keep, None)).has_custom_announcement  # type: ignore[arg-type]
        stored = await system.ref(settings_address("t-1")).ask(
            msg_rec.GetRecordingSettingsState(), reply=msg_rec.RecordingSettingsState)
        assert stored.announcement_wav == prompt
        for bad, error in ((_wav(b"\x00\x00" * 800, rate=16000), "invalid-announcement"),
                           (_wav(b"\x00\x00" * 8000 * 31), "invalid-announcement"),
                           (b"not a wav", "invalid-announcement")):
            with pytest.raises(InvalidArgument) as info:
                await servicer.SetRecordingSettings(api_rec.SetRecordingSettingsRequest(
                    settings=api_rec.RecordingSettings(announcement_wav=bad)), None)  # type: ignore[arg-type]
            assert info.value.error_id == error
        with pytest.raises(InvalidArgument) as digit:
            await servicer.SetRecordingSettings(api_rec.SetRecordingSettingsRequest(
                settings=api_rec.RecordingSettings(objection_digit="12")), None)  # type: ignore[arg-type]
        assert digit.value.error_id == "invalid-digit"

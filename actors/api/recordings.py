"""Recordings: start and stop a call's recording, list, read, stream and delete recordings,
and the tenant's recording settings (``protos/fabric/api/v1/recordings.proto``).

Start and stop go to the call's actor (``actors.call_recording`` decides who may). The
metadata comes from the tenant's ``RecordingIndex`` actors (one per month); the audio from
the vault's content store (class ``recording``), streamed chunk by chunk as it is unsealed,
never written to disk. Reach: owners and admins every recording of their tenant, a member
those of calls where they were a party (``recording-not-yours`` otherwise); every lookup is
keyed by the caller's own tenant, so another tenant's recording is NOT_FOUND.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc

from actors import validate
from actors.api.principals import caller
from actors.call import call_address
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import recording_pb2 as msg_rec
from actors.recording_audio import announcement_from_wav
from actors.recording_index import (
    INDEX_KIND,
    public_settings,
    settings_address,
    shard_address,
)
from fabric.actor import ActorAddress, ActorSystem
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.api.v1 import recordings_pb2_grpc
from fabric.clock import Clock, SystemClock
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from fabric.media.wavstream import wav_chunks
from fabric.vault.content import RECORDING, ContentStore

MAX_RANGE_MS = 366 * 24 * 3600 * 1000
DEFAULT_RANGE_MS = 30 * 24 * 3600 * 1000
MAX_PAGE = 1000
DEFAULT_PAGE = 100
DIGITS = frozenset("0123456789*#")

__all__ = ["RecordingsServicer"]


def _months(start_ms: int, end_ms: int) -> list[str]:
    """The UTC months (yyyymm) from the one holding ``end_ms - 1`` back to ``start_ms``'s."""
    end = datetime.fromtimestamp((end_ms - 1) / 1000, tz=UTC)
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    year, month, out = end.year, end.month, []
    while (year, month) >= (start.year, start.month):
        out.append(f"{year:04d}{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def _token(entry: api_rec.Recording) -> str:
    raw = f"{entry.started_at_ms}:{entry.recording_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _cursor(token: str) -> tuple[int, str]:
    if not token:
        return 0, ""
    try:
        ms, _, rid = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if shard_address("t", rid) is None:
            raise ValueError(rid)
        return int(ms), rid
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            "page_token must be the next_page_token of the previous page",
            error_id="invalid-page-token",
            details={"field": "page_token"},
        ) from None


class RecordingsServicer(recordings_pb2_grpc.RecordingsServicer):
    """The Recordings service of one gateway."""

    def __init__(
        self, system: ActorSystem, content: ContentStore | None, clock: Clock | None = None
    ) -> None:
        self.system = system
        self.content = content
        self.clock: Clock = clock or SystemClock()

    # ---- start / stop -------------------------------------------------------------------

    async def StartRecording(  # noqa: N802
        self, request: api_rec.StartRecordingRequest, context: grpc.aio.ServicerContext
    ) -> api_rec.Recording:
        """Ask the call's actor to start recording (it checks the policy and the caller)."""
        validate.call_id(request.call_id)
        op = msg_rec.RecordingOp(principal=caller(), start=request)
        return await self.system.ref(call_address(request.call_id)).ask(
            op, reply=api_rec.Recording
        )

    async def StopRecording(  # noqa: N802
        self, request: api_rec.StopRecordingRequest, context: grpc.aio.ServicerContext
    ) -> api_rec.Recording:
        """Ask the call's actor to stop and seal its recording."""
        validate.call_id(request.call_id)
        op = msg_rec.RecordingOp(principal=caller(), stop=request)
        return await self.system.ref(call_address(request.call_id)).ask(
            op, reply=api_rec.Recording
        )

    # ---- reading ------------------------------------------------------------------------

    async def _entry(self, who: msg_common.Principal, recording_id: str) -> api_rec.Recording:
        address = shard_address(who.tenant_id, recording_id)
        if address is None:
            raise InvalidArgument(
                "recording_id must be an id ListRecordings returned (yyyymmdd-<call id>-<n>)",
                error_id="invalid-recording-id",
                details={"field": "recording_id"},
            )
        entry = await self.system.ref(address).ask(
            msg_rec.GetIndexedRecording(recording_id=recording_id),
            reply=msg_rec.IndexedRecording,
        )
        if who.role == api_common.ROLE_MEMBER and who.user_id not in entry.user_ids:
            raise PermissionDenied(
                "this recording is not of one of your calls; a member reaches only their own "
                "calls' recordings (an owner or admin reaches any)",
                error_id="recording-not-yours",
                details={"required_roles": "owner, admin"},
            )
        return entry.recording

    async def ListRecordings(  # noqa: N802
        self, request: api_rec.ListRecordingsRequest, context: grpc.aio.ServicerContext
    ) -> api_rec.ListRecordingsResponse:
        """Recordings started in [start_ms, end_ms), newest first, a page at a time."""
        end_ms = request.end_ms or int(self.clock.now() * 1000) + 1
        start_ms = request.start_ms or max(0, end_ms - DEFAULT_RANGE_MS)
        if start_ms < 0 or end_ms <= start_ms or end_ms - start_ms > MAX_RANGE_MS:
            raise InvalidArgument(
                "need 0 <= start_ms < end_ms, at most 366 days apart (unix milliseconds; "
                "end_ms 0 = now)",
                error_id="invalid-time-range",
                details={"field": "end_ms"},
            )
        if request.extension:
            validate.extension(request.extension)
        if request.page_size > MAX_PAGE:
            raise InvalidArgument(f"page_size must be 0 to {MAX_PAGE}", error_id="invalid-page",
                                  details={"field": "page_size"})
        size = request.page_size or DEFAULT_PAGE
        before_ms, before_id = _cursor(request.page_token)
        who = caller()
        member = who.role == api_common.ROLE_MEMBER
        found: list[api_rec.Recording] = []
        for month in _months(start_ms, end_ms):
            address = ActorAddress(INDEX_KIND, f"{who.tenant_id}:{month}")
            page = await self.system.ref(address).ask(
                msg_rec.QueryRecordings(
                    start_ms=start_ms, end_ms=end_ms, extension=request.extension,
                    user_id=who.user_id if member else "", before_ms=before_ms,
                    before_id=before_id, limit=size - len(found),
                ),
                reply=msg_rec.RecordingPage,
            )
            found.extend(e.recording for e in page.entries)
            if len(found) >= size:
                break
        token = _token(found[-1]) if len(found) >= size else ""
        return api_rec.ListRecordingsResponse(recordings=found, next_page_token=token)

    async def GetRecording(  # noqa: N802
        self, request: api_rec.RecordingRef, context: grpc.aio.ServicerContext
    ) -> api_rec.Recording:
        """One recording's metadata."""
        return await self._entry(caller(), request.recording_id)

    def _store(self) -> ContentStore:
        if self.content is None:
            raise FailedPrecondition(
                "this gateway has no content store", error_id="content-store-missing"
            )
        return self.content

    async def StreamAudio(  # noqa: N802
        self, request: api_rec.RecordingRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api_rec.AudioChunk]:
        """The recording as a WAV file, unsealed chunk by chunk."""
        who = caller()
        entry = await self._entry(who, request.recording_id)
        if entry.state != api_rec.RECORDING_STOPPED:
            raise FailedPrecondition(
                "the recording is still going on; stream it once it has stopped",
                error_id="recording-not-sealed",
            )
        reader = await self._store().open(who.tenant_id, RECORDING, entry.recording_id)
        async for chunk in wav_chunks(reader):  # the relay's streamed header, made exact
            yield api_rec.AudioChunk(data=chunk)

    async def DeleteRecording(  # noqa: N802
        self, request: api_rec.RecordingRef, context: grpc.aio.ServicerContext
    ) -> api_rec.DeleteRecordingResponse:
        """Delete the audio from the vault (unreadable at once) and forget the metadata."""
        who = caller()
        entry = await self._entry(who, request.recording_id)
        if entry.state != api_rec.RECORDING_STOPPED:
            raise FailedPrecondition(
                "the recording is still going on; stop it first (`fabric call record stop`)",
                error_id="recording-not-sealed",
            )
        due = 0.0
        try:
            due = await self._store().delete(who.tenant_id, RECORDING, entry.recording_id)
        except NotFound:
            pass  # never sealed (the fork failed): only the metadata is left to drop
        address = shard_address(who.tenant_id, entry.recording_id)
        if address is not None:  # (always: _entry checked the id)
            await self.system.ref(address).ask(
                msg_rec.DropRecording(recording_id=entry.recording_id)
            )
        return api_rec.DeleteRecordingResponse(destroyed_by_ms=int(due * 1000))

    # ---- settings -----------------------------------------------------------------------

    async def GetRecordingSettings(  # noqa: N802
        self, request: api_rec.GetRecordingSettingsRequest, context: grpc.aio.ServicerContext
    ) -> api_rec.RecordingSettings:
        """The tenant's consent setting, objection key and whether it has its own prompt."""
        state = await self.system.ref(settings_address(caller().tenant_id)).ask(
            msg_rec.GetRecordingSettingsState(), reply=msg_rec.RecordingSettingsState
        )
        return public_settings(state)

    async def SetRecordingSettings(  # noqa: N802
        self, request: api_rec.SetRecordingSettingsRequest, context: grpc.aio.ServicerContext
    ) -> api_rec.RecordingSettings:
        """Replace the settings; a prompt is checked and kept as 8 kHz mono PCM WAV."""
        s = request.settings
        digit = s.objection_digit or "9"
        if len(digit) != 1 or digit not in DIGITS:
            raise InvalidArgument(
                "settings.objection_digit must be one key: 0-9, * or #",
                error_id="invalid-digit",
                details={"field": "settings.objection_digit"},
            )
        prompt = announcement_from_wav(s.announcement_wav) if s.announcement_wav else b""
        state = msg_rec.RecordingSettingsState(
            all_party_consent=s.all_party_consent, objection_digit=digit, announcement_wav=prompt
        )
        saved = await self.system.ref(settings_address(caller().tenant_id)).ask(
            msg_rec.PutRecordingSettingsState(
                settings=state, keep_announcement=s.keep_announcement
            ),
            reply=msg_rec.RecordingSettingsState,
        )
        return public_settings(saved)

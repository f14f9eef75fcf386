"""Where recordings are listed, and a tenant's recording settings: two small actors.

``RecordingIndex`` (kind ``recordings``, key ``<tenant id>:<yyyymm>``) keeps the metadata of
one tenant's recordings started in one UTC month (``fabric.api.v1.Recording`` plus the
parties' user ids, so a member's query finds their calls' recordings). The audio is only in
the vault's content store (class ``recording``, object id = recording id); this index holds
no audio and no phone number (extensions and user ids only), and its state is sealed like
every actor's. Why a month per actor: a tenant's index grows with every recording, and a
month keeps each saved state small (a busy tenant's month is a few thousand entries) while
a list over the API's longest range (366 days) asks at most 13 actors. The month is read
from the recording id, which starts with its UTC start date (``yyyymmdd-<call id>-<n>``), so
a recording is found by its id alone.

``RecordingSettingsActor`` (kind ``recording-settings``, key = tenant id): whether every
party must consent (and may object with a key), the objection key, and the tenant's
announcement (a WAV of 8 kHz mono PCM, or empty for the shipped one). Its own actor rather than a
field of the tenant's configuration: the prompt is up to 480 KB, which every change of the
tenant's configuration would otherwise rewrite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from actors.messages.v1 import recording_pb2 as msg_rec
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.errors import NotFound

INDEX_KIND = "recordings"
SETTINGS_KIND = "recording-settings"
DEFAULT_OBJECTION_DIGIT = "9"
RECORDING_ID_RE = re.compile(r"^(\d{4})(\d{2})\d{2}-[0-9a-f]{32}-\d{1,3}$")
CONSENT_SLUG = {
    api_rec.CONSENT_EXTENSION_POLICY: "extension-policy",
    api_rec.CONSENT_CALL_REQUEST: "call-request",
}
"""Consent source -> the CDR's ``recording_consent`` slug (and the metric label)."""

__all__ = [
    "CONSENT_SLUG",
    "INDEX_KIND",
    "SETTINGS_KIND",
    "RecordingIndex",
    "RecordingSettingsActor",
    "index_address",
    "new_recording_id",
    "settings_address",
    "shard_address",
]


def new_recording_id(call_id: str, started_at_ms: int, sequence: int) -> str:
    """The id of a call's ``sequence``-th recording, started at ``started_at_ms``."""
    day = datetime.fromtimestamp(started_at_ms / 1000, tz=UTC).strftime("%Y%m%d")
    return f"{day}-{call_id}-{sequence}"


def index_address(tenant_id: str, at_ms: int) -> ActorAddress:
    """The index actor of the tenant's month that holds ``at_ms``."""
    month = datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y%m")
    return ActorAddress(INDEX_KIND, f"{tenant_id}:{month}")


def shard_address(tenant_id: str, recording_id: str) -> ActorAddress | None:
    """The index actor holding ``recording_id`` (None: not a recording id)."""
    match = RECORDING_ID_RE.match(recording_id)
    if match is None:
        return None
    return ActorAddress(INDEX_KIND, f"{tenant_id}:{match.group(1)}{match.group(2)}")


def settings_address(tenant_id: str) -> ActorAddress:
    """The tenant's recording settings actor."""
    return ActorAddress(SETTINGS_KIND, tenant_id)


def _not_found() -> NotFound:
    return NotFound(
        "no recording with this id in your tenant (`fabric recording list`)",
        error_id="recording-not-found",
    )


def _order(entry: msg_rec.IndexedRecording) -> tuple[int, str]:
    return (entry.recording.started_at_ms, entry.recording.recording_id)


class RecordingIndex(VirtualActor[str]):
    """One tenant's recordings of one month (metadata only), saved on every change."""

    kind = INDEX_KIND

    async def on_activate(self) -> None:
        """Load the month's entries."""
        state = await self.ctx.load_state(msg_rec.RecordingIndexState)
        self.state = state if state is not None else msg_rec.RecordingIndexState()

    @handler
    async def on_put(self, msg: msg_rec.PutRecording) -> None:
        """Insert or replace one recording's metadata (the call actor, as it goes)."""
        self.state.recordings[msg.entry.recording.recording_id].CopyFrom(msg.entry)
        await self.ctx.save_state(self.state)

    @handler
    async def on_get(self, msg: msg_rec.GetIndexedRecording) -> msg_rec.IndexedRecording:
        """One recording (NOT_FOUND recording-not-found)."""
        if msg.recording_id not in self.state.recordings:
            raise _not_found()
        return self.state.recordings[msg.recording_id]

    @handler
    async def on_drop(self, msg: msg_rec.DropRecording) -> None:
        """Forget a recording whose audio was deleted."""
        if msg.recording_id in self.state.recordings:
            del self.state.recordings[msg.recording_id]
            await self.ctx.save_state(self.state)

    @handler
    async def on_query(self, msg: msg_rec.QueryRecordings) -> msg_rec.RecordingPage:
        """The month's recordings matching the query, newest first, after the cursor."""
        out = []
        cursor = (msg.before_ms, msg.before_id)
        for entry in sorted(self.state.recordings.values(), key=_order, reverse=True):
            r = entry.recording
            if not msg.start_ms <= r.started_at_ms < msg.end_ms:
                continue
            if msg.before_ms and _order(entry) >= cursor:
                continue
            if msg.extension and msg.extension not in r.extensions:
                continue
            if msg.user_id and msg.user_id not in entry.user_ids:
                continue
            out.append(entry)
            if len(out) >= msg.limit:
                break
        return msg_rec.RecordingPage(entries=out)


class RecordingSettingsActor(VirtualActor[str]):
    """A tenant's consent setting, objection key and announcement prompt."""

    kind = SETTINGS_KIND

    async def on_activate(self) -> None:
        """Load the settings (defaults when never set)."""
        state = await self.ctx.load_state(msg_rec.RecordingSettingsState)
        self.state = state if state is not None else msg_rec.RecordingSettingsState(
            objection_digit=DEFAULT_OBJECTION_DIGIT
        )

    @handler
    async def on_get(
        self, msg: msg_rec.GetRecordingSettingsState
    ) -> msg_rec.RecordingSettingsState:
        """The settings, announcement included."""
        return self.state

    @handler
    async def on_put(
        self, msg: msg_rec.PutRecordingSettingsState
    ) -> msg_rec.RecordingSettingsState:
        """Replace the settings (checked by the API edge); keep the prompt if asked."""
        new = msg_rec.RecordingSettingsState()
        new.CopyFrom(msg.settings)
        new.objection_digit = new.objection_digit or DEFAULT_OBJECTION_DIGIT
        if msg.keep_announcement and not new.announcement_wav:
            new.announcement_wav = self.state.announcement_wav
        await self.ctx.save_state(new)
        self.state = new
        return new


def public_settings(state: msg_rec.RecordingSettingsState) -> api_rec.RecordingSettings:
    """The settings as the API shows them (the prompt itself is not sent back)."""
    return api_rec.RecordingSettings(
        all_party_consent=state.all_party_consent,
        objection_digit=state.objection_digit or DEFAULT_OBJECTION_DIGIT,
        has_custom_announcement=bool(state.announcement_wav),
    )

"""``fabric recording`` (list, get, play, delete, settings) and ``fabric call record start|stop``.

Recording is opt-in per extension (``fabric ext set EXT --recording-policy always|on-demand``).
``play`` writes the recording as a WAV file (mode 0600: it is personal data); there is no
player in the CLI. Admins reach every recording of the tenant, a member their own calls'.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.client.client import FabricClient
from fabric.client.recordings import RecordingsClient
from fabric.media.g711 import read_wav_as_ulaw, ulaw_to_pcm16
from fabric.media.wavstream import wav_header

from .base import Group, confirm, pass_session, yes_option
from .checks import check_extension
from .output import as_dict, done, emit, emit_fields, enum, when
from .session import ADMIN, MEMBER, Session

MAX_HOURS = 24 * 366


def _consent(r: api_rec.Recording) -> str:
    source = enum(api_rec.ConsentSource.Name(r.consent), "CONSENT_")
    return f"{source} by {r.requested_by}" if r.requested_by else source


def _state(r: api_rec.Recording) -> str:
    return enum(api_rec.RecordingState.Name(r.state), "RECORDING_")


def _fields(s: Session, r: api_rec.Recording) -> list[tuple[str, object]]:
    return [
        ("recording", r.recording_id), ("call", r.call_id), ("state", _state(r)),
        ("extensions", ", ".join(r.extensions)), (f"started ({s.tz})", when(r.started_at_ms, s.tz)),
        ("announced", when(r.announced_at_ms, s.tz)), ("ended", when(r.ended_at_ms, s.tz)),
        ("consent", _consent(r)),
        ("objected by", f"{r.objected_by} at {when(r.objected_at_ms, s.tz)}"
         if r.objected_by else "-"),
        ("audio", f"{r.channels} channels, {r.duration_s:.1f} s, {r.audio_bytes} bytes"),
    ]


@click.group(cls=Group)
def recording() -> None:
    """Call recordings (sealed in the vault): list, get, play to a WAV file, delete;
    the tenant's consent settings."""


@recording.command("list")
@click.option("--hours", type=click.FloatRange(0, MAX_HOURS, min_open=True), default=24 * 30.0,
              show_default=True, help="how far back")
@click.option("--ext", "extension", callback=check_extension,
              help="only recordings where this extension was a party")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="at most this many (1-1000)")
@pass_session
def recording_list(s: Session, hours: float, extension: str | None, limit: int) -> None:
    """The latest recordings, newest first."""
    start = int((time.time() - hours * 3600) * 1000)

    async def body(c: FabricClient) -> None:
        page = await RecordingsClient(c).list(
            start_ms=start, extension=extension or "", page_size=limit
        )
        rows = page.recordings
        emit(s, [as_dict(r) for r in rows],
             [f"started ({s.tz})", "recording", "extensions", "state", "length", "consent"],
             [(when(r.started_at_ms, s.tz), r.recording_id, ",".join(r.extensions), _state(r),
               f"{r.duration_s:.0f}s", _consent(r)) for r in rows])

    s.run(MEMBER, body)


@recording.command("get")
@click.argument("recording_id")
@pass_session
def recording_get(s: Session, recording_id: str) -> None:
    """One recording's metadata (alias: show)."""

    async def body(c: FabricClient) -> None:
        r = await RecordingsClient(c).get(recording_id)
        emit_fields(s, as_dict(r), _fields(s, r))

    s.run(MEMBER, body)


@recording.command("play")
@click.argument("recording_id")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="WAV file to write (default <recording id>.wav)")
@pass_session
def recording_play(s: Session, recording_id: str, out: Path | None) -> None:
    """Write the recording as a WAV file (one channel per party, 8 kHz 16-bit)."""
    path = out or Path(f"{recording_id}.wav")

    async def body(c: FabricClient) -> None:
        size = await RecordingsClient(c).save_wav(recording_id, path)
        done(s, {"recording_id": recording_id, "path": str(path), "bytes": size},
             f"wrote {path} ({size} bytes)")

    s.run(MEMBER, body)


@recording.command("delete")
@click.argument("recording_id")
@yes_option
@pass_session
def recording_delete(s: Session, recording_id: str, yes: bool) -> None:
    """Delete a recording: unreadable at once, its key destroyed after the backup window."""
    confirm(yes, f"delete recording {recording_id}? it cannot be recovered")

    async def body(c: FabricClient) -> None:
        reply = await RecordingsClient(c).delete(recording_id)
        done(s, {"deleted": recording_id, "destroyed_by_ms": reply.destroyed_by_ms},
             f"deleted recording {recording_id} (backups unreadable after "
             f"{when(reply.destroyed_by_ms, s.tz)})")

    s.run(ADMIN, body)


@recording.command("settings")
@click.option("--consent/--no-consent", default=None,
              help="every party may object with the objection key (stops the recording)")
@click.option("--objection-digit", type=click.Choice(list("0123456789*#")),
              help="the key that objects (default 9)")
@click.option("--announcement", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a WAV file played to every party when recording starts (any WAV: it is "
                   "converted to 8 kHz mono)")
@click.option("--default-announcement", is_flag=True, help="back to the shipped announcement")
@pass_session
def recording_settings(s: Session, consent: bool | None, objection_digit: str | None,
                       announcement: Path | None, default_announcement: bool) -> None:
    """Show the tenant's recording settings, or change the options given."""
    if announcement is not None and default_announcement:
        raise click.UsageError("give --announcement or --default-announcement, not both")
    prompt = b""
    if announcement is not None:
        try:
            ulaw = read_wav_as_ulaw(announcement)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--announcement") from None
        pcm = ulaw_to_pcm16(ulaw)
        prompt = wav_header(1, len(pcm)) + pcm
    change = consent is not None or objection_digit or announcement or default_announcement

    async def body(c: FabricClient) -> None:
        rec = RecordingsClient(c)
        current = await rec.settings()
        if change:
            current = await rec.set_settings(api_rec.RecordingSettings(
                all_party_consent=current.all_party_consent if consent is None else consent,
                objection_digit=objection_digit or current.objection_digit,
                announcement_wav=prompt,
                keep_announcement=not prompt and not default_announcement,
            ))
        emit_fields(s, as_dict(current), [
            ("all-party consent", "on" if current.all_party_consent else "off"),
            ("objection key", current.objection_digit),
            ("announcement", "the tenant's" if current.has_custom_announcement else "shipped"),
        ])

    s.run(ADMIN, body)


@click.group(cls=Group)
def record() -> None:
    """Record a call in progress (where an extension's policy allows it)."""


@record.command("start")
@click.argument("call_id")
@pass_session
def record_start(s: Session, call_id: str) -> None:
    """Start recording: every party hears the announcement first."""

    async def body(c: FabricClient) -> None:
        r = await RecordingsClient(c).start(call_id)
        done(s, as_dict(r), f"recording {r.recording_id} started ({_state(r)})")

    s.run(MEMBER, body)


@record.command("stop")
@click.argument("call_id")
@pass_session
def record_stop(s: Session, call_id: str) -> None:
    """Stop the call's recording (it is sealed in the vault)."""

    async def body(c: FabricClient) -> None:
        r = await RecordingsClient(c).stop(call_id)
        done(s, as_dict(r), f"recording {r.recording_id} stopped: {r.duration_s:.1f} s")

    s.run(MEMBER, body)

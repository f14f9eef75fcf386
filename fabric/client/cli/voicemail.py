"""``fabric voicemail``: a mailbox's messages (list, show, play to a file, delete) and its
greeting (any tenant key; a member: the mailboxes of their own extensions). A mailbox is
named by its extension."""

from __future__ import annotations

import re
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.client.audio import CallAudio
from fabric.client.client import FabricClient
from fabric.client.softphone import Softphone
from fabric.client.voicemail import VoicemailClient, greeting_wav
from fabric.errors import FabricError

from .base import Group, confirm, pass_session, yes_option
from .output import as_dict, emit, emit_fields, enum, when
from .session import MEMBER, Session, fail

_MAILBOX = re.compile(r"[0-9]{2,8}")


def _mailbox(value: str) -> str:
    if not _MAILBOX.fullmatch(value):
        fail(f"MAILBOX {value!r} must be the mailbox's extension, 2 to 8 digits", 2)
    return value


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def _transcript(m: api_vm.VoicemailMessage) -> str:
    status = enum(api_vm.TranscriptStatus.Name(m.transcript_status), "TRANSCRIPT_STATUS_")
    return f"{status} ({m.transcript_reason})" if m.transcript_reason else status


@click.group(cls=Group)
def voicemail() -> None:
    """Voicemail: a mailbox's messages (unheard first), their audio and transcripts, and the
    greeting callers hear. MAILBOX is the extension (it needs voicemail on:
    `fabric ext set EXT --voicemail`)."""


@voicemail.command("list")
@click.argument("mailbox")
@click.option("--unheard", is_flag=True, help="only the messages not yet heard")
@pass_session
def vm_list(s: Session, mailbox: str, unheard: bool) -> None:
    """The mailbox's messages, unheard first, newest first within each."""
    _mailbox(mailbox)

    async def run(c: FabricClient) -> None:
        messages = await VoicemailClient(c).messages(mailbox, unheard)
        emit(s, [as_dict(m) for m in messages],
             ["message", "new", "from", f"received ({s.tz})", "length", "ended by",
              "transcript"],
             [(m.message_id, "" if m.heard else "new", getattr(m, "from"),
               when(m.received_at_ms, s.tz), _seconds(m.duration_ms), m.ended_by,
               _transcript(m)) for m in messages],
             title=f"mailbox {mailbox}: {sum(not m.heard for m in messages)} unheard")

    s.run(MEMBER, run)


@voicemail.command("show")
@click.argument("mailbox")
@click.argument("message_id", metavar="MESSAGE")
@pass_session
def vm_show(s: Session, mailbox: str, message_id: str) -> None:
    """One message with its transcript (when done)."""
    _mailbox(mailbox)

    async def run(c: FabricClient) -> None:
        m = await VoicemailClient(c).get(mailbox, message_id)
        emit_fields(s, as_dict(m), [
            ("message", m.message_id), ("mailbox", m.mailbox), ("from", getattr(m, "from")),
            (f"received ({s.tz})", when(m.received_at_ms, s.tz)),
            ("length", _seconds(m.duration_ms)), ("heard", "yes" if m.heard else "no"),
            ("ended by", m.ended_by), ("call", m.call_id), ("transcript", _transcript(m)),
            ("text", m.transcript or "-"),
        ])

    s.run(MEMBER, run)


@voicemail.command("play")
@click.argument("mailbox")
@click.argument("message_id", metavar="MESSAGE")
@click.option("--out", "out", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="write the message's audio here (a WAV file, mode 0600)")
@pass_session
def vm_play(s: Session, mailbox: str, message_id: str, out: Path) -> None:
    """Save a message's audio to a WAV file (with progress); it is then marked heard."""
    _mailbox(mailbox)

    async def run(c: FabricClient) -> None:
        console = Console(stderr=True)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      DownloadColumn(), TransferSpeedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task(f"message {message_id[:12]}", total=None)

            def step(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            size = await VoicemailClient(c).save_audio(mailbox, message_id, out, step)
        click.echo(f"saved {size} bytes to {out}")

    s.run(MEMBER, run)


@voicemail.command("delete")
@click.argument("mailbox")
@click.argument("message_id", metavar="MESSAGE")
@yes_option
@pass_session
def vm_delete(s: Session, mailbox: str, message_id: str, yes: bool) -> None:
    """Delete a message: its audio and transcript are unreadable at once."""
    _mailbox(mailbox)
    confirm(yes, f"delete voicemail message {message_id} of mailbox {mailbox} for good?")

    async def run(c: FabricClient) -> None:
        gone = await VoicemailClient(c).delete(mailbox, message_id)
        click.echo(f"deleted {gone.message_id} ({gone.unheard_count} unheard left)")

    s.run(MEMBER, run)


@voicemail.command("greeting")
@click.argument("mailbox")
@click.option("--upload", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a WAV file (any format: converted to 8 kHz mono), 0.5 to 60 s")
@click.option("--reset", is_flag=True, help="back to the default greeting")
@pass_session
def vm_greeting(s: Session, mailbox: str, upload: Path | None, reset: bool) -> None:
    """Show the greeting callers hear; --upload a new one or --reset to the default."""
    _mailbox(mailbox)
    if upload is not None and reset:
        fail("give --upload FILE or --reset, not both", 2)
    wav = b""
    if upload is not None:
        try:
            wav = greeting_wav(upload)
        except ValueError as exc:
            fail(str(exc), 2)

    async def run(c: FabricClient) -> None:
        client = VoicemailClient(c)
        if upload is not None:
            g = await client.upload_greeting(mailbox, wav)
        elif reset:
            g = await client.reset_greeting(mailbox)
        else:
            g = (await client.settings(mailbox)).greeting
        emit_fields(s, as_dict(g), [
            ("mailbox", g.mailbox),
            ("greeting", "uploaded" if g.custom else "default"),
            ("length", _seconds(g.duration_ms) if g.custom else "-"),
            (f"uploaded ({s.tz})", when(g.updated_at_ms, s.tz)),
        ])

    s.run(MEMBER, run)


@voicemail.command("leave")
@click.argument("from_extension", metavar="FROM")
@click.argument("to", metavar="EXT")
@click.option("--wav", "wav", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="what to say after the beep (any WAV: converted to 8 kHz u-law)")
@click.option("--no-pound", is_flag=True, help="hang up at the end instead of pressing #")
@pass_session
def vm_leave(s: Session, from_extension: str, to: str, wav: Path, no_pound: bool) -> None:
    """Call EXT from your extension FROM and, when its mailbox answers, speak WAV after the
    beep, then press # (a test caller: nobody must answer EXT). The greeting's length comes
    from the mailbox's settings when your key reaches it; else the end of the prompt audio
    is waited for."""
    _mailbox(to)

    async def run(c: FabricClient) -> None:
        audio = CallAudio()
        async with Softphone(c, from_extension) as phone:
            info = await c.dial(from_extension, extension=to, media=audio.offer())
            try:
                await audio.start(info.media)
                if info.state != api_calls.CALL_STATE_ANSWERED:
                    click.echo(f"call {info.call_id}: ringing {to} (leave it unanswered)")
                    while True:
                        ev = await phone.next_event()
                        if ev.call_id != info.call_id:
                            continue
                        if ev.type == api_calls.CALL_EVENT_ENDED:
                            why = enum(api_calls.EndReason.Name(ev.end_reason), "END_REASON_")
                            fail(f"the call ended ({why}) before a mailbox answered")
                        if ev.type == api_calls.CALL_EVENT_ANSWERED:
                            break
                try:  # the greeting's length, when this key reaches the mailbox
                    frames = await VoicemailClient(c).prompt_frames(to)
                except FabricError:
                    frames = 0
                if frames:
                    await audio.wait_received(frames - 1, timeout_s=frames * 0.02 + 30)
                heard = await audio.wait_prompt_end(quiet_s=0.3 if frames else 1.5)
                click.echo(f"mailbox {to} answered: greeting and beep ({heard * 0.02:.1f} s)")
                frames = await audio.send_wav(wav)
                click.echo(f"said {frames * 0.02:.1f} s from {wav}")
                if no_pound:
                    await c.hangup(info.call_id)
                else:
                    await audio.send_dtmf("#")
                while True:
                    ev = await phone.next_event()
                    if ev.call_id == info.call_id and ev.type == api_calls.CALL_EVENT_ENDED:
                        reason = enum(api_calls.EndReason.Name(ev.end_reason), "END_REASON_")
                        click.echo(f"call {info.call_id} ended: {reason}")
                        return
            finally:
                await audio.close()

    s.run(MEMBER, run)

"""``fabric call``, ``fabric phone`` and ``fabric wav``: calls, a test softphone and test
audio (G.711 µ-law over SRTP through the fabric's media relay). Media keys are never
printed. Every file named is checked before the call is placed."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import click

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.client import CallAudio, FabricClient, Softphone
from fabric.client.softphone import ConnectionEvent, ConnectionState
from fabric.errors import FabricError

from .base import Group, pass_session
from .checks import check_extension, destination
from .output import as_dict, done, emit, enum, when
from .session import ADMIN, MEMBER, Session

MAX_WAV_S = 600.0
CALL_ID = click.argument("call_id")


def _check_wav(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--wav: an existing WAV file, any rate or channels (read and converted now, so a bad
    file fails before the call)."""
    if value is None:
        return None
    from fabric.media.g711 import read_wav_as_ulaw

    try:
        read_wav_as_ulaw(value)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{value}: {getattr(exc, 'strerror', None) or exc} "
                                 "(`fabric wav FILE` makes a test tone)") from None
    return value


def _check_record(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--record: its folder must exist and be writable now, not after the call."""
    if value is None:
        return None
    folder = value.parent if str(value.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"{value}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"{value}: the folder {folder} is not writable")
    if value.is_dir():
        raise click.BadParameter(f"{value} is a folder; give a file name")
    return value


def audio_options(f: Any) -> Any:
    """--wav and --record."""
    f = click.option("--record", type=click.Path(path_type=Path), callback=_check_record,
                     help="save what the other party sent as a u-law WAV ({call_id} is "
                          "replaced)")(f)
    return click.option("--wav", type=click.Path(path_type=Path), callback=_check_wav,
                        help="send this WAV (any rate, mono or stereo, PCM or u-law; "
                        "converted to 8 kHz u-law) once answered")(f)


def _event_line(ev: api_calls.CallEvent, tz: str) -> str:
    kind = enum(api_calls.CallEventType.Name(ev.type), "CALL_EVENT_")
    line = f"{when(ev.at_ms, tz)}  {ev.extension:>6}  {kind:<12} call {ev.call_id}"
    line += f"  {getattr(ev, 'from')} -> {ev.to}"
    if ev.type == api_calls.CALL_EVENT_ENDED:
        line += f"  ({enum(api_calls.EndReason.Name(ev.end_reason), 'END_REASON_')})"
    return line


def _call_line(info: api_calls.CallInfo) -> str:
    state = enum(api_calls.CallState.Name(info.state), "CALL_STATE_")
    line = f"call {info.call_id}  {getattr(info, 'from')} -> {info.to}  {state}"
    if info.ringing:
        line += f"  ringing: {', '.join(info.ringing)}"
    if info.answered_by:
        line += f"  answered by {info.answered_by}"
    if info.state == api_calls.CALL_STATE_ENDED:
        line += f"  ({enum(api_calls.EndReason.Name(info.end_reason), 'END_REASON_')})"
    return line


def _info(s: Session, info: api_calls.CallInfo) -> None:
    data = as_dict(info)
    data.pop("media", None)  # relay address and key: never printed
    done(s, data, _call_line(info))


async def _play(audio: CallAudio, wav: Path | None) -> None:
    """Once the other party is on the relay, send ``wav`` (if any)."""
    if not await audio.wait_peer(10.0):
        click.echo("audio: the other party's media never arrived")
        return
    if wav is not None:
        frames = await audio.send_wav(wav)
        click.echo(f"audio: sent {frames} frames ({frames * 0.02:.1f} s) from {wav}")


async def _finish_audio(audio: CallAudio, sender: asyncio.Task[None] | None,
                        record: Path | None, call_id: str) -> None:
    """Stop sending, save what was heard, close the socket."""
    if sender is not None:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    line = f"audio: received {audio.packets_received} frames"
    try:
        if record is not None:
            path = Path(str(record).replace("{call_id}", call_id))
            audio.save_recording(path)
            line += f", saved to {path}"
    except OSError as exc:
        line += f"; could not save {record}: {exc.strerror or exc}"
    click.echo(line)
    await audio.close()


_pending: set[asyncio.Future[None]] = set()


def _hangup_later(c: FabricClient, call_id: str) -> None:
    async def quiet() -> None:
        with contextlib.suppress(FabricError):
            await c.hangup(call_id)

    task = asyncio.ensure_future(quiet())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


@click.command()
@click.argument("extension", callback=check_extension)
@click.option("--auto-answer", is_flag=True, help="answer every incoming call")
@click.option("--answer-after", type=click.FloatRange(0, 300), default=1.0, show_default=True,
              help="seconds of ringing before answering")
@click.option("--hangup-after", type=click.FloatRange(0, 86400), default=0.0,
              help="seconds after answering (0: never)")
@click.option("--give-up", type=click.FloatRange(1, 86400), default=60.0, show_default=True,
              help="seconds without the fabric before the phone exits with an error")
@audio_options
@pass_session
def phone(s: Session, extension: str, auto_answer: bool, answer_after: float,
          hangup_after: float, give_up: float, wav: Path | None, record: Path | None) -> None:
    """A test softphone: register EXTENSION and print its call events (with --wav or
    --record, carry audio on the calls it auto-answers)."""
    wants_audio = bool(wav or record)
    if wants_audio and not auto_answer:
        raise click.UsageError("--wav/--record need --auto-answer")

    async def body(c: FabricClient) -> None:
        media: dict[str, tuple[CallAudio, asyncio.Task[None]]] = {}

        def connection(event: ConnectionEvent) -> None:
            if event.state is not ConnectionState.REGISTERED:
                click.echo(f"phone: {event.describe()}")

        softphone = Softphone(c, extension, give_up_s=give_up, on_connection=connection)
        async with softphone:
            click.echo(f"registered {extension}; waiting for calls (Ctrl-C to stop)")
            try:
                while True:
                    ev = await softphone.next_event()  # PhoneGaveUp (exit 1) when it gives up
                    click.echo(_event_line(ev, s.tz))
                    if ev.type == api_calls.CALL_EVENT_INCOMING and auto_answer:
                        await _answer(c, s, ev, extension, answer_after, hangup_after,
                                      wants_audio, wav, media)
                    elif ev.type == api_calls.CALL_EVENT_ENDED and ev.call_id in media:
                        audio, sender = media.pop(ev.call_id)
                        await _finish_audio(audio, sender, record, ev.call_id)
            finally:
                for call_id, (audio, sender) in list(media.items()):
                    await _finish_audio(audio, sender, record, call_id)

    s.run(MEMBER, body)


async def _answer(c: FabricClient, s: Session, ev: api_calls.CallEvent, extension: str,
                  answer_after: float, hangup_after: float, wants_audio: bool,
                  wav: Path | None, media: dict[str, tuple[CallAudio, asyncio.Task[None]]]
                  ) -> None:
    await asyncio.sleep(answer_after)
    audio = CallAudio() if wants_audio else None
    try:
        info = await c.answer(ev.call_id, extension, media=audio.offer() if audio else None)
    except FabricError as exc:  # e.g. the caller gave up meanwhile
        click.echo(f"answer failed [{exc.error_id}]: {exc.message}")
        if audio is not None:
            await audio.close()
        return
    if audio is not None and not info.media.relay_port:
        click.echo(f"call {ev.call_id} carries no audio (the caller offered none): answered "
                   "as a signalling-only call")
        await audio.close()
        audio = None
    if audio is not None:
        await audio.start(info.media)
        media[ev.call_id] = (audio, asyncio.create_task(_play(audio, wav)))
    if hangup_after:
        asyncio.get_running_loop().call_later(hangup_after, _hangup_later, c, ev.call_id)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--seconds", type=click.FloatRange(0.02, MAX_WAV_S), default=3.0,
              show_default=True, help=f"length (0.02 to {MAX_WAV_S:g} s)")
def wav(path: Path, seconds: float) -> None:
    """Write a test tone (a rising sweep) as a mono 8 kHz G.711 u-law WAV to PATH."""
    from fabric.media.g711 import sweep_ulaw, write_ulaw_wav

    if not path.parent.is_dir():
        raise click.BadParameter(f"{path}: the folder {path.parent} does not exist",
                                 param_hint="'PATH'")
    try:
        write_ulaw_wav(path, sweep_ulaw(seconds))
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}: {seconds:g} s of G.711 u-law at 8 kHz")


@click.group(cls=Group)
def call() -> None:
    """Place and control calls (any tenant key; a member only on their own extensions)."""


@call.command("dial")
@click.argument("from_extension", callback=check_extension)
@click.argument("to")
@click.option("--wait", is_flag=True, help="register and follow the call to its end")
@click.option("--hangup-after", type=click.FloatRange(0, 86400), default=0.0,
              help="hang up this many seconds after answer")
@audio_options
@pass_session
def call_dial(s: Session, from_extension: str, to: str, wait: bool, hangup_after: float,
              wav: Path | None, record: Path | None) -> None:
    """Call TO (an extension, or a +E.164 number) from FROM_EXTENSION."""
    target = destination(to)
    follow = wait or bool(wav or record) or bool(hangup_after)

    async def body(c: FabricClient) -> None:
        if not follow:
            _info(s, await c.dial(from_extension, **target))  # type: ignore[arg-type]
            return
        await _dial_and_follow(c, s, from_extension, target, hangup_after, wav, record)

    s.run(MEMBER, body)


async def _dial_and_follow(c: FabricClient, s: Session, from_extension: str,
                           to: dict[str, str], hangup_after: float, wav: Path | None,
                           record: Path | None) -> None:
    """Register the calling extension, dial, follow the call to its end (with audio)."""
    audio = CallAudio() if (wav or record) else None
    sender: asyncio.Task[None] | None = None
    async with Softphone(c, from_extension) as softphone:
        info = await c.dial(from_extension, **to,  # type: ignore[arg-type]
                            media=audio.offer() if audio is not None else None)
        click.echo(_call_line(info))
        try:
            if audio is not None:
                await audio.start(info.media)
            while True:
                ev = await softphone.next_event()
                if ev.call_id != info.call_id:
                    continue
                click.echo(_event_line(ev, s.tz))
                if ev.type == api_calls.CALL_EVENT_ANSWERED:
                    if audio is not None and sender is None:
                        sender = asyncio.create_task(_play(audio, wav))
                    if hangup_after:
                        asyncio.get_running_loop().call_later(
                            hangup_after, _hangup_later, c, info.call_id)
                if ev.type == api_calls.CALL_EVENT_ENDED:
                    return
        finally:
            if audio is not None:
                await _finish_audio(audio, sender, record, info.call_id)


def _simple(name: str, with_extension: bool, doc: str) -> None:
    """Register ``call NAME CALL_ID [EXTENSION]`` running the SDK method ``name``."""

    def run(s: Session, call_id: str, extension: str | None = None) -> None:
        async def body(c: FabricClient) -> None:
            method = getattr(c, name)
            _info(s, await (method(call_id, extension) if with_extension else method(call_id)))

        s.run(MEMBER, body)

    run.__doc__ = doc
    cmd: Any = pass_session(run)
    if with_extension:
        cmd = click.argument("extension", callback=check_extension)(cmd)
    cmd = CALL_ID(cmd)
    call.command(name.replace("get_call", "get"), help=doc)(cmd)


_simple("answer", True, "Answer a ringing call on one of your extensions.")
_simple("reject", True, "Reject a ringing call on one of your extensions.")
_simple("hangup", False, "Hang up (or cancel while ringing).")
_simple("hold", False, "Hold an answered call.")
_simple("resume", False, "Resume a held call.")
_simple("get_call", False, "A call's state (alias: show).")


@call.command("transfer")
@CALL_ID
@click.argument("to")
@pass_session
def call_transfer(s: Session, call_id: str, to: str) -> None:
    """Blind-transfer a call to an extension or a +E.164 number."""
    target = destination(to)
    s.run(MEMBER, lambda c: _shown(s, c.transfer(call_id, **target)))


async def _shown(s: Session, pending: Any) -> None:
    _info(s, await pending)


@call.command("list")
@pass_session
def call_list(s: Session) -> None:
    """Admin: the tenant's active calls."""

    async def body(c: FabricClient) -> None:
        calls = await c.active_calls()
        rows = [(i.call_id, getattr(i, "from"), i.to,
                 enum(api_calls.CallState.Name(i.state), "CALL_STATE_"),
                 ", ".join(i.ringing) or "-", i.answered_by or "-") for i in calls]
        data = [as_dict(i) for i in calls]
        for d in data:
            d.pop("media", None)
        emit(s, data, ["call", "from", "to", "state", "ringing", "answered by"], rows)

    s.run(ADMIN, body)

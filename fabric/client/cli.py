"""``fabric``: the command-line tool for carriers, tenant admins and test softphones.

Credentials come from ``$FABRIC_TOKEN``, else the file named by ``--token-file`` or
``$FABRIC_TOKEN_FILE``, else the operator token file that ``make up`` made
(``.run/operator.token``); never from the command line, which every local user can read in
the process list. The server is ``--target`` (default
``localhost:<api.port>``), trusted through the development CA in ``api.tls_dir``.

Examples::

    fabric tenant create Acme                  # as the operator: prints the owner's key
    export FABRIC_TOKEN=fk_...                 # act as that owner
    fabric user add Alice --ext 101
    fabric user add Bob --ext 102
    fabric phone 102 --auto-answer --hangup-after 5    # in another terminal
    fabric call dial 101 102 --wait
    fabric cdr list

A call with audio (G.711 µ-law over SRTP through the fabric's media relay)::

    fabric wav hello.wav                                  # a 3 s test tone
    fabric phone 102 --auto-answer --wav hello.wav --record heard-by-102.wav
    fabric call dial 101 102 --wav hello.wav --record heard-by-101.wav --hangup-after 4

Media keys are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client import CallAudio, FabricClient, Softphone
from fabric.client.softphone import ConnectionEvent, ConnectionState
from fabric.config import load_settings
from fabric.errors import FabricError

_ROLES = {
    "owner": api_common.ROLE_OWNER,
    "admin": api_common.ROLE_ADMIN,
    "member": api_common.ROLE_MEMBER,
}
_PLANS = {"standard": api_carrier.PLAN_STANDARD, "pro": api_carrier.PLAN_PRO}
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _enum(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower().replace("_", "-")


def _when(ms: int) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _destination(value: str) -> dict[str, Any]:
    return {"number": value} if value.startswith("+") else {"extension": value}


def _event_line(ev: api_calls.CallEvent) -> str:
    kind = _enum(api_calls.CallEventType.Name(ev.type), "CALL_EVENT_")
    line = f"{_when(ev.at_ms)}  {ev.extension:>6}  {kind:<12} call {ev.call_id}"
    line += f"  {getattr(ev, 'from')} -> {ev.to}"
    if ev.type == api_calls.CALL_EVENT_ENDED:
        line += f"  ({_enum(api_calls.EndReason.Name(ev.end_reason), 'END_REASON_')})"
    return line


def _call_line(info: api_calls.CallInfo) -> None:
    state = _enum(api_calls.CallState.Name(info.state), "CALL_STATE_")
    print(f"call {info.call_id}  {getattr(info, 'from')} -> {info.to}  {state}", end="")
    if info.ringing:
        print(f"  ringing: {', '.join(info.ringing)}", end="")
    if info.answered_by:
        print(f"  answered by {info.answered_by}", end="")
    if info.state == api_calls.CALL_STATE_ENDED:
        print(f"  ({_enum(api_calls.EndReason.Name(info.end_reason), 'END_REASON_')})", end="")
    print()


# ---- commands ---------------------------------------------------------------------------


async def cmd_tenant(c: FabricClient, a: argparse.Namespace) -> None:
    """Carrier: tenants."""
    if a.action == "create":
        r = await c.create_tenant(a.name, a.owner, _PLANS[a.plan])
        print(f"tenant {r.tenant.tenant_id} created ({a.plan}); owner user {r.owner_user_id}")
        print("owner API key (shown once; keep it secret):")
        print(f"  export FABRIC_TOKEN={r.owner_api_key}")
        return
    fn = {
        "get": c.get_tenant,
        "suspend": c.suspend_tenant,
        "resume": c.resume_tenant,
        "close": c.close_tenant,
    }[a.action]
    t = await fn(a.tenant_id)
    status = _enum(api_carrier.TenantStatus.Name(t.status), "TENANT_STATUS_")
    plan = _enum(api_carrier.Plan.Name(t.plan), "PLAN_")
    print(f"tenant {t.tenant_id}  {t.name!r}  {plan}  {status}  numbers: {len(t.numbers)}")


async def cmd_plan(c: FabricClient, a: argparse.Namespace) -> None:
    """Carrier: a tenant's plan."""
    t = await c.set_plan(a.tenant_id, _PLANS[a.plan])
    print(f"tenant {t.tenant_id} plan {_enum(api_carrier.Plan.Name(t.plan), 'PLAN_')}")


async def cmd_number(c: FabricClient, a: argparse.Namespace) -> None:
    """Numbers: allocate/release (carrier), route/list (tenant admin)."""
    if a.action == "allocate":
        got = await c.allocate_numbers(
            a.tenant_id, count=0 if a.numbers else a.count, numbers=a.numbers
        )
        for n in got:
            print(n)
    elif a.action == "release":
        await c.release_number(a.tenant_id, a.number)
        print(f"released {a.number}")
    elif a.action == "route":
        r = await c.route_number(a.number, extension=a.ext or "", ring_group=a.group or "")
        print(f"{r.number} -> {r.extension or 'group ' + r.ring_group}")
    else:
        cfg = await c.get_config()
        _table(
            [
                (n.number, n.extension or (f"group {n.ring_group}" if n.ring_group else "-"))
                for n in cfg.numbers
            ],
            ["number", "rings"],
        )


async def cmd_user(c: FabricClient, a: argparse.Namespace) -> None:
    """Tenant admin: users (and optionally their extension and key)."""
    if a.action == "list":
        cfg = await c.get_config()
        _table(
            [(u.user_id, u.name, _enum(api_common.Role.Name(u.role), "ROLE_")) for u in cfg.users],
            ["user", "name", "role"],
        )
        return
    if a.action == "key":
        k = await c.create_api_key(a.user_id)
        print(f"API key {k.key.key_id} for {a.user_id} (shown once):\n  {k.secret}")
        return
    u = await c.create_user(a.name, _ROLES[a.role])
    print(f"user {u.user_id}  {u.name}  {a.role}")
    if a.ext:
        e = await c.put_extension(a.ext, u.user_id, voicemail=a.voicemail)
        print(f"extension {e.extension} -> {u.user_id}")
    if a.key:
        k = await c.create_api_key(u.user_id)
        print(f"API key (shown once):\n  {k.secret}")


async def cmd_ext(c: FabricClient, a: argparse.Namespace) -> None:
    """Tenant admin: extensions."""
    if a.action == "list":
        cfg = await c.get_config()
        rows = []
        for e in cfg.extensions:
            fw = e.forwarding
            fwd = (
                "-"
                if not fw.mode
                else (
                    f"{_enum(api_tenant.ForwardMode.Name(fw.mode), 'FORWARD_')} {fw.to_extension}"
                )
            )
            rows.append(
                (e.extension, e.user_id, e.ring_timeout_s, "on" if e.voicemail else "off", fwd)
            )
        _table(rows, ["ext", "user", "ring s", "voicemail", "forwarding"])
        return
    forwarding = None
    if a.forward_always:
        forwarding = api_tenant.ForwardingRule(
            mode=api_tenant.FORWARD_ALWAYS, to_extension=a.forward_always
        )
    elif a.forward_no_answer:
        forwarding = api_tenant.ForwardingRule(
            mode=api_tenant.FORWARD_NO_ANSWER, to_extension=a.forward_no_answer
        )
    e = await c.put_extension(
        a.extension,
        a.user_id,
        ring_timeout_s=a.ring_timeout,
        voicemail=a.voicemail,
        recording=a.recording,
        forwarding=forwarding,
    )
    print(
        f"extension {e.extension} -> {e.user_id}  ring {e.ring_timeout_s}s  "
        f"voicemail {'on' if e.voicemail else 'off'}"
    )


async def cmd_group(c: FabricClient, a: argparse.Namespace) -> None:
    """Tenant admin: ring groups."""
    strategy = api_tenant.RING_IN_ORDER if a.in_order else api_tenant.RING_ALL_AT_ONCE
    g = await c.put_ring_group(a.group_id, a.extensions, strategy, a.ring_timeout)
    how = "in order" if a.in_order else "all at once"
    print(f"ring group {g.group_id}: {', '.join(g.extensions)} ({how}, {g.ring_timeout_s}s)")


def _interval(text: str) -> list[api_tenant.OpenInterval]:
    m = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)", text.lower())
    if not m or m[1] not in _DAYS or (m[2] and m[2] not in _DAYS):
        raise SystemExit(f"--open wants e.g. 'mon-fri 09:00-17:00', got {text!r}")
    first, last = _DAYS.index(m[1]), _DAYS.index(m[2] or m[1])
    start, end = int(m[3]) * 60 + int(m[4]), int(m[5]) * 60 + int(m[6])
    return [
        api_tenant.OpenInterval(weekday=d, start_minute=start, end_minute=end)
        for d in range(first, last + 1)
    ]


async def cmd_hours(c: FabricClient, a: argparse.Namespace) -> None:
    """Tenant admin: business hours."""
    hours = api_tenant.BusinessHours(enabled=not a.off, timezone=a.tz)
    for text in a.open or []:
        hours.open.extend(_interval(text))
    if a.after_hours_ext:
        hours.after_hours_extension = a.after_hours_ext
    elif a.after_hours_group:
        hours.after_hours_ring_group = a.after_hours_group
    h = await c.set_business_hours(hours)
    print(
        f"business hours {'on' if h.enabled else 'off'}: {len(h.open)} intervals "
        f"({h.timezone or 'UTC'})"
    )


def _wants_audio(a: argparse.Namespace) -> bool:
    if a.wav is not None and not a.wav.is_file():
        raise SystemExit(f"--wav: no such file {a.wav} (`fabric wav FILE` makes a test tone)")
    return bool(a.wav or a.record)


async def _play(audio: CallAudio, wav: Path | None) -> None:
    """Once the other party is on the relay, send ``wav`` (if any)."""
    if not await audio.wait_peer(10.0):
        print("audio: the other party's media never arrived", flush=True)
        return
    if wav is not None:
        frames = await audio.send_wav(wav)
        print(f"audio: sent {frames} frames ({frames * 0.02:.1f} s) from {wav}", flush=True)


async def _finish_audio(
    audio: CallAudio, sender: asyncio.Task[None] | None, record: Path | None, call_id: str
) -> None:
    """Stop sending, save what was heard, close the socket."""
    if sender is not None:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    line = f"audio: received {audio.packets_received} frames"
    if record is not None:
        path = Path(str(record).replace("{call_id}", call_id))
        audio.save_recording(path)
        line += f", saved to {path}"
    print(line, flush=True)
    await audio.close()


async def cmd_phone(c: FabricClient, a: argparse.Namespace) -> None:
    """A test softphone: register an extension and print its events (and, with --wav or
    --record, carry audio on the calls it auto-answers)."""
    if _wants_audio(a) and not a.auto_answer:
        raise SystemExit("--wav/--record need --auto-answer")
    media: dict[str, tuple[CallAudio, asyncio.Task[None]]] = {}

    def connection(event: ConnectionEvent) -> None:
        if event.state is not ConnectionState.REGISTERED:
            print(f"phone: {event.describe()}", flush=True)

    phone = Softphone(c, a.extension, give_up_s=a.give_up, on_connection=connection)
    async with phone:
        print(f"registered {a.extension}; waiting for calls (Ctrl-C to stop)", flush=True)
        try:
            while True:
                ev = await phone.next_event()  # raises PhoneGaveUp (exit 1) when it gives up
                print(_event_line(ev), flush=True)
                if ev.type == api_calls.CALL_EVENT_INCOMING and a.auto_answer:
                    await asyncio.sleep(a.answer_after)
                    audio = CallAudio() if _wants_audio(a) else None
                    try:
                        info = await c.answer(
                            ev.call_id, a.extension, media=audio.offer() if audio else None
                        )
                    except FabricError as exc:  # e.g. the caller gave up meanwhile
                        print(f"answer failed [{exc.error_id}]: {exc.message}", flush=True)
                        if audio is not None:
                            await audio.close()
                        continue
                    if audio is not None and not info.media.relay_port:
                        print(
                            f"call {ev.call_id} carries no audio (the caller offered none): "
                            "answered as a signalling-only call",
                            flush=True,
                        )
                        await audio.close()
                        audio = None
                    if audio is not None:
                        await audio.start(info.media)
                        media[ev.call_id] = (audio, asyncio.create_task(_play(audio, a.wav)))
                    if a.hangup_after:
                        asyncio.get_running_loop().call_later(
                            a.hangup_after, _hangup_later, c, ev.call_id
                        )
                elif ev.type == api_calls.CALL_EVENT_ENDED and ev.call_id in media:
                    audio, sender = media.pop(ev.call_id)
                    await _finish_audio(audio, sender, a.record, ev.call_id)
        finally:
            for call_id, (audio, sender) in list(media.items()):
                await _finish_audio(audio, sender, a.record, call_id)


_pending: set[asyncio.Future[None]] = set()


def _hangup_later(c: FabricClient, call_id: str) -> None:
    task = asyncio.ensure_future(_quiet(c.hangup(call_id)))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _quiet(coro: Any) -> None:
    try:
        await coro
    except FabricError:
        pass


async def cmd_call(c: FabricClient, a: argparse.Namespace) -> None:
    """Calls: dial, answer, reject, hang up, hold, resume, transfer, show, list."""
    if a.action == "dial":
        to = _destination(a.to)
        if not (a.wait or _wants_audio(a) or a.hangup_after):
            _call_line(await c.dial(a.from_extension, **to))
            return
        await _dial_and_follow(c, a, to)
    elif a.action == "list":
        for info in await c.active_calls():
            _call_line(info)
    else:
        fn: Any = {
            "answer": lambda: c.answer(a.call_id, a.extension),
            "reject": lambda: c.reject(a.call_id, a.extension),
            "hangup": lambda: c.hangup(a.call_id),
            "hold": lambda: c.hold(a.call_id),
            "resume": lambda: c.resume(a.call_id),
            "transfer": lambda: c.transfer(a.call_id, **_destination(a.to)),
            "show": lambda: c.get_call(a.call_id),
        }[a.action]
        _call_line(await fn())


async def _dial_and_follow(c: FabricClient, a: argparse.Namespace, to: dict[str, Any]) -> None:
    """Register the calling extension, dial, follow the call to its end (with audio)."""
    audio = CallAudio() if _wants_audio(a) else None
    sender: asyncio.Task[None] | None = None
    async with Softphone(c, a.from_extension) as phone:
        info = await c.dial(
            a.from_extension, **to, media=audio.offer() if audio is not None else None
        )
        _call_line(info)
        try:
            if audio is not None:
                await audio.start(info.media)
            while True:
                ev = await phone.next_event()
                if ev.call_id != info.call_id:
                    continue
                print(_event_line(ev), flush=True)
                if ev.type == api_calls.CALL_EVENT_ANSWERED:
                    if audio is not None and sender is None:
                        sender = asyncio.create_task(_play(audio, a.wav))
                    if a.hangup_after:
                        asyncio.get_running_loop().call_later(
                            a.hangup_after, _hangup_later, c, info.call_id
                        )
                if ev.type == api_calls.CALL_EVENT_ENDED:
                    return
        finally:
            if audio is not None:
                await _finish_audio(audio, sender, a.record, info.call_id)


async def cmd_wav(c: object, a: argparse.Namespace) -> None:
    """Write a test tone (a rising sweep) as a mono 8 kHz G.711 µ-law WAV."""
    from fabric.media.g711 import sweep_ulaw, write_ulaw_wav

    write_ulaw_wav(a.path, sweep_ulaw(a.seconds))
    print(f"wrote {a.path}: {a.seconds:g} s of G.711 u-law at 8 kHz")


async def cmd_cdr(c: FabricClient, a: argparse.Namespace) -> None:
    """Records: list or show CDRs."""
    if a.action == "show":
        r = await c.get_cdr(a.call_id)
        for field, value in (
            ("call", r.call_id),
            ("from", getattr(r, "from")),
            ("to", r.to),
            ("direction", r.direction),
            ("disposition", _enum(api_calls.EndReason.Name(r.disposition), "END_REASON_")),
            ("cause", r.hangup_cause),
            ("started", _when(r.started_at_ms)),
            ("answered", _when(r.answered_at_ms)),
            ("ended", _when(r.ended_at_ms)),
            ("talk time", f"{r.duration_s:.0f} s"),
            (
                "media",
                f"{r.packets_received} packets in, {r.packets_sent} out, "
                f"{r.packets_lost} lost, jitter {r.jitter_ms:.1f} ms",
            ),
        ):
            print(f"{field:>12}: {value}")
        return
    start = int((time.time() - a.hours * 3600) * 1000)
    page = await c.query_cdrs(start, number=a.number or "", page_size=a.limit)
    _table(
        [
            (
                _when(r.started_at_ms),
                r.call_id,
                getattr(r, "from"),
                r.to,
                _enum(api_calls.EndReason.Name(r.disposition), "END_REASON_"),
                f"{r.duration_s:.0f}s",
            )
            for r in page.records
        ],
        ["started (UTC)", "call", "from", "to", "disposition", "talk"],
    )


# ---- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = argparse.ArgumentParser(
        prog="fabric", description="Drive the call fabric's gRPC API.",
        allow_abbrev=False,  # `--token KEY` must not pass as an abbreviated --token-file
    )
    p.add_argument("--target", help="host:port of the API (default localhost:<api.port>)")
    p.add_argument("--ca", type=Path, help="CA certificate (default <api.tls_dir>/ca.pem)")
    p.add_argument("--insecure", action="store_true", help="plaintext (a server with tls off)")
    p.add_argument(
        "--token-file",
        type=Path,
        help="file holding the API key or operator token (default $FABRIC_TOKEN, then "
        "$FABRIC_TOKEN_FILE, then the operator token file); there is no --token: a key on "
        "the command line is visible to every local user",
    )
    p.add_argument("--config", type=Path, help="settings TOML file")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tenant", help="carrier: create, show, suspend, resume, close tenants")
    ts = t.add_subparsers(dest="action", required=True)
    tc = ts.add_parser("create")
    tc.add_argument("name")
    tc.add_argument("--owner", default="Owner", help="the owner's display name")
    tc.add_argument("--plan", choices=sorted(_PLANS), default="standard")
    for action in ("get", "suspend", "resume", "close"):
        ts.add_parser(action).add_argument("tenant_id")
    t.set_defaults(run=cmd_tenant)

    pl = sub.add_parser("plan", help="carrier: set a tenant's plan")
    pl.add_argument("tenant_id")
    pl.add_argument("plan", choices=sorted(_PLANS))
    pl.set_defaults(run=cmd_plan)

    n = sub.add_parser("number", help="phone numbers")
    ns = n.add_subparsers(dest="action", required=True)
    na = ns.add_parser("allocate", help="carrier: give pool numbers to a tenant")
    na.add_argument("tenant_id")
    na.add_argument("numbers", nargs="*", help="exact numbers (else --count from the pool)")
    na.add_argument("--count", type=int, default=1)
    nr = ns.add_parser("release", help="carrier: return a number to the pool")
    nr.add_argument("tenant_id")
    nr.add_argument("number")
    nt = ns.add_parser("route", help="admin: where a number rings")
    nt.add_argument("number")
    g = nt.add_mutually_exclusive_group(required=True)
    g.add_argument("--ext")
    g.add_argument("--group")
    ns.add_parser("list", help="admin: the tenant's numbers")
    n.set_defaults(run=cmd_number)

    u = sub.add_parser("user", help="admin: users")
    us = u.add_subparsers(dest="action", required=True)
    ua = us.add_parser("add")
    ua.add_argument("name")
    ua.add_argument("--role", choices=sorted(_ROLES), default="member")
    ua.add_argument("--ext", help="also create this extension for the user")
    ua.add_argument("--voicemail", action="store_true", help="voicemail on for --ext")
    ua.add_argument("--key", action="store_true", help="also make an API key for the user")
    us.add_parser("list")
    us.add_parser("key", help="make an API key for a user").add_argument("user_id")
    u.set_defaults(run=cmd_user)

    e = sub.add_parser("ext", help="admin: extensions")
    es = e.add_subparsers(dest="action", required=True)
    ea = es.add_parser("add", help="create or replace an extension")
    ea.add_argument("extension")
    ea.add_argument("user_id")
    ea.add_argument("--ring-timeout", type=int, default=0, help="seconds (5-120; default 20)")
    ea.add_argument("--voicemail", action="store_true")
    ea.add_argument("--recording", action="store_true")
    fw = ea.add_mutually_exclusive_group()
    fw.add_argument("--forward-always", metavar="EXT")
    fw.add_argument("--forward-no-answer", metavar="EXT")
    es.add_parser("list")
    e.set_defaults(run=cmd_ext)

    gr = sub.add_parser("group", help="admin: create or replace a ring group")
    gr.add_argument("group_id")
    gr.add_argument("extensions", nargs="+")
    gr.add_argument("--in-order", action="store_true", help="ring one after another")
    gr.add_argument("--ring-timeout", type=int, default=0)
    gr.set_defaults(run=cmd_group)

    h = sub.add_parser("hours", help="admin: business hours")
    h.add_argument("--tz", default="", help="IANA time zone (default UTC)")
    h.add_argument("--open", action="append", help="e.g. 'mon-fri 09:00-17:00' (repeatable)")
    h.add_argument("--after-hours-ext")
    h.add_argument("--after-hours-group")
    h.add_argument("--off", action="store_true", help="disable business hours")
    h.set_defaults(run=cmd_hours)

    ph = sub.add_parser("phone", help="register an extension and print its call events")
    ph.add_argument("extension")
    ph.add_argument("--auto-answer", action="store_true")
    ph.add_argument("--answer-after", type=float, default=1.0, help="seconds of ringing")
    ph.add_argument("--hangup-after", type=float, default=0.0, help="seconds after answering")
    ph.add_argument(
        "--give-up",
        type=float,
        default=60.0,
        help="seconds without the fabric before the phone exits with an error (default 60)",
    )
    _audio_options(ph)
    ph.set_defaults(run=cmd_phone)

    w = sub.add_parser("wav", help="write a test tone WAV (mono 8 kHz G.711 u-law)")
    w.add_argument("path", type=Path)
    w.add_argument("--seconds", type=float, default=3.0)
    w.set_defaults(run=cmd_wav, offline=True)

    c = sub.add_parser("call", help="place and control calls")
    cs = c.add_subparsers(dest="action", required=True)
    cd = cs.add_parser("dial")
    cd.add_argument("from_extension")
    cd.add_argument("to", help="an extension, or a +E.164 number")
    cd.add_argument("--wait", action="store_true", help="register and follow the call to its end")
    cd.add_argument(
        "--hangup-after", type=float, default=0.0, help="hang up this many seconds after answer"
    )
    _audio_options(cd)
    for action in ("answer", "reject"):
        x = cs.add_parser(action)
        x.add_argument("call_id")
        x.add_argument("extension")
    for action in ("hangup", "hold", "resume", "show"):
        cs.add_parser(action).add_argument("call_id")
    tr = cs.add_parser("transfer")
    tr.add_argument("call_id")
    tr.add_argument("to")
    cs.add_parser("list", help="admin: active calls")
    c.set_defaults(run=cmd_call)

    r = sub.add_parser("cdr", help="admin: call detail records")
    rs = r.add_subparsers(dest="action", required=True)
    rl = rs.add_parser("list")
    rl.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    rl.add_argument("--number", help="only calls from or to this number or extension")
    rl.add_argument("--limit", type=int, default=50)
    rs.add_parser("show").add_argument("call_id")
    r.set_defaults(run=cmd_cdr)
    return p


def _audio_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wav", type=Path, help="send this WAV (mono 8 kHz, u-law or 16-bit PCM) once answered"
    )
    p.add_argument(
        "--record",
        type=Path,
        help="save what the other party sent as a u-law WAV ({call_id} is replaced)",
    )


def _token(token_file: Path | None, operator_token_file: Path) -> str:
    """The key from $FABRIC_TOKEN, else --token-file / $FABRIC_TOKEN_FILE, else the
    operator token file ('' if none)."""
    token = os.environ.get("FABRIC_TOKEN", "")
    if token:
        return token.strip()
    named = token_file or (Path(os.environ["FABRIC_TOKEN_FILE"])
                           if os.environ.get("FABRIC_TOKEN_FILE") else None)
    if named is not None:
        if not named.is_file():
            raise SystemExit(f"no token file at {named}")
        return named.read_text().strip()
    if operator_token_file.exists():
        return operator_token_file.read_text().strip()
    return ""


def _client(a: argparse.Namespace) -> FabricClient:
    settings = load_settings(a.config)
    token = _token(a.token_file, settings.api.operator_token_file)
    if not token:
        raise SystemExit(
            "no credentials: set FABRIC_TOKEN, pass --token-file (or FABRIC_TOKEN_FILE), or "
            "run `make up` first"
        )
    target = a.target or f"localhost:{settings.api.port}"
    ca = None if a.insecure or not settings.api.tls else (a.ca or settings.api.tls_dir / "ca.pem")
    if ca is not None and not ca.exists():
        raise SystemExit(f"no CA certificate at {ca}: start the fabric (`make up`) or pass --ca")
    return FabricClient(target, token, ca_file=ca)


async def _run(a: argparse.Namespace) -> int:
    if getattr(a, "offline", False):
        await a.run(None, a)
        return 0
    client = _client(a)
    try:
        await a.run(client, a)
        return 0
    except FabricError as exc:
        print(f"error [{exc.error_id}]: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fabric`` command."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

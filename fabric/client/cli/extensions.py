"""``fabric ext`` and ``fabric group`` (tenant owners and admins).

``set`` changes only the options given (the rest is read first and kept); ``add`` refuses
an existing object instead of replacing it.
"""

from __future__ import annotations

import click

from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client.client import FabricClient

from .base import Group, confirm, pass_session, yes_option
from .checks import (
    check_extension,
    check_extensions,
    check_forward_target,
    check_group_id,
    find_extension,
    find_group,
    find_user,
)
from .output import as_dict, done, emit, emit_fields, enum
from .session import ADMIN, Session

POLICIES = {
    "off": api_tenant.RECORDING_OFF,
    "always": api_tenant.RECORDING_ALWAYS,
    "on-demand": api_tenant.RECORDING_ON_DEMAND,
}
"""``--recording-policy`` values."""
POLICY_NAMES = {v: k for k, v in POLICIES.items()}
TRANSCRIPTION = {
    "default": api_tenant.VOICEMAIL_TRANSCRIPTION_UNSPECIFIED,
    "on": api_tenant.VOICEMAIL_TRANSCRIPTION_ON,
    "off": api_tenant.VOICEMAIL_TRANSCRIPTION_OFF,
}
"""``--transcription`` values (default: on for Standard, off for Pro)."""
TRANSCRIPTION_NAMES = {v: k for k, v in TRANSCRIPTION.items()}

EXT = click.argument("extension", callback=check_extension)
GROUP = click.argument("group_id", callback=check_group_id)


def _forwarding(e: api_tenant.Extension) -> str:
    fw = e.forwarding
    if not fw.mode:
        return "-"
    target = fw.to_number or fw.to_extension
    return f"{enum(api_tenant.ForwardMode.Name(fw.mode), 'FORWARD_')} {target}"


def _ext_line(e: api_tenant.Extension) -> str:
    return (f"extension {e.extension} -> {e.user_id}  ring {e.ring_timeout_s}s  "
            f"voicemail {'on' if e.voicemail else 'off'}  "
            f"recording {_recording(e)}  forwarding {_forwarding(e)}")


def _recording(e: api_tenant.Extension) -> str:
    """The extension's recording policy: off, always or on-demand."""
    if not e.recording_policy:
        return "always" if e.recording else "off"
    return POLICY_NAMES.get(e.recording_policy, "off")


def ext_options(f: click.decorators.FC) -> click.decorators.FC:
    """The settings of an extension (for add and set)."""
    for option in reversed([
        click.option("--ring-timeout", type=click.IntRange(5, 120),
                     help="seconds to ring before voicemail or forwarding (5-120)"),
        click.option("--voicemail/--no-voicemail", default=None, help="voicemail on or off"),
        click.option("--recording/--no-recording", default=None,
                     help="shortcut: --recording-policy always / off"),
        click.option("--recording-policy", type=click.Choice(list(POLICIES)),
                     help="call recording: off (default), always (from the answer, after the "
                          "announcement) or on-demand (`fabric call record start|stop`)"),
        click.option("--transcription", type=click.Choice(list(TRANSCRIPTION)),
                     help="voicemail transcription: default (on for Standard, off for Pro), "
                          "on (Pro: needs a BAA on file, else baa-required) or off"),
        click.option("--forward-always", metavar="EXT|+E164", callback=check_forward_target,
                     help="never ring; ring this extension or outside number instead"),
        click.option("--forward-no-answer", metavar="EXT|+E164", callback=check_forward_target,
                     help="ring, then this extension or outside number"),
        click.option("--no-forward", is_flag=True, help="remove forwarding"),
    ]):
        f = option(f)
    return f


def _apply(e: api_tenant.Extension, ring_timeout: int | None, voicemail: bool | None,
           recording: bool | None, forward_always: str | None, forward_no_answer: str | None,
           no_forward: bool, recording_policy: str | None = None,
           transcription: str | None = None) -> None:
    if sum(map(bool, (forward_always, forward_no_answer, no_forward))) > 1:
        raise click.UsageError(
            "give at most one of --forward-always, --forward-no-answer, --no-forward")
    if ring_timeout is not None:
        e.ring_timeout_s = ring_timeout
    if voicemail is not None:
        e.voicemail = voicemail
    if recording is not None:
        recording_policy = "always" if recording else "off"
    if recording_policy is not None:
        e.recording_policy = POLICIES[recording_policy]
        e.recording = recording_policy == "always"
    if transcription is not None:
        e.voicemail_transcription = TRANSCRIPTION[transcription]  # type: ignore[assignment]
    target = forward_always or forward_no_answer
    if no_forward:
        e.ClearField("forwarding")
    elif target:
        mode = api_tenant.FORWARD_ALWAYS if forward_always else api_tenant.FORWARD_NO_ANSWER
        rule = api_tenant.ForwardingRule(mode=mode)
        if target.startswith("+"):
            rule.to_number = target
        else:
            rule.to_extension = target
        e.forwarding.CopyFrom(rule)


@click.group(cls=Group)
def ext() -> None:
    """Admin: extensions (the short numbers that ring a user's softphones)."""


@ext.command("list")
@pass_session
def ext_list(s: Session) -> None:
    """Every extension with its user's name and settings."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        names = {u.user_id: u.name for u in cfg.users}
        emit(s, [{**as_dict(e), "user_name": names.get(e.user_id, "")} for e in cfg.extensions],
             ["ext", "user", "name", "ring s", "voicemail", "recording", "forwarding"],
             [(e.extension, e.user_id, names.get(e.user_id, "?"), e.ring_timeout_s,
               "on" if e.voicemail else "off", _recording(e), _forwarding(e))
              for e in cfg.extensions])

    s.run(ADMIN, body)


@ext.command("get")
@EXT
@pass_session
def ext_get(s: Session, extension: str) -> None:
    """One extension."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        e = find_extension(cfg, extension)
        name = next((u.name for u in cfg.users if u.user_id == e.user_id), "?")
        emit_fields(s, {**as_dict(e), "user_name": name}, [
            ("extension", e.extension), ("user", f"{e.user_id} ({name})"),
            ("ring", f"{e.ring_timeout_s} s"), ("voicemail", "on" if e.voicemail else "off"),
            ("recording", _recording(e)), ("forwarding", _forwarding(e)),
            ("transcription", TRANSCRIPTION_NAMES.get(e.voicemail_transcription, "default")),
        ])

    s.run(ADMIN, body)


@ext.command("add")
@EXT
@click.argument("who", metavar="USER")
@ext_options
@pass_session
def ext_add(s: Session, extension: str, who: str, **settings: object) -> None:
    """Create an extension for a user (by id or exact name); refuses an existing one."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        if any(e.extension == extension for e in cfg.extensions):
            raise click.ClickException(
                f"extension {extension} exists: `fabric ext set {extension} ...` changes it")
        e = api_tenant.Extension(extension=extension, user_id=find_user(cfg, who).user_id)
        _apply(e, **settings)  # type: ignore[arg-type]
        made = await c.put_extension_message(e)
        done(s, as_dict(made), _ext_line(made))

    s.run(ADMIN, body)


@ext.command("set")
@EXT
@click.option("--user", "who", metavar="USER", help="give the extension to this user")
@click.option("--force", is_flag=True, help="needed with --user to take it from another user")
@ext_options
@pass_session
def ext_set(s: Session, extension: str, who: str | None, force: bool,
            **settings: object) -> None:
    """Change only the given settings of an extension."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        e = api_tenant.Extension()
        e.CopyFrom(find_extension(cfg, extension))
        if who is not None:
            u = find_user(cfg, who)
            if u.user_id != e.user_id and not force:
                raise click.ClickException(
                    f"extension {extension} belongs to {e.user_id}; pass --force to give it to "
                    f"{u.name} ({u.user_id})")
            e.user_id = u.user_id
        _apply(e, **settings)  # type: ignore[arg-type]
        made = await c.put_extension_message(e)
        done(s, as_dict(made), _ext_line(made))

    s.run(ADMIN, body)


@ext.command("delete")
@EXT
@yes_option
@pass_session
def ext_delete(s: Session, extension: str, yes: bool) -> None:
    """Remove an extension no group, route, forwarding or hours use."""
    confirm(yes, f"delete extension {extension}?")

    async def body(c: FabricClient) -> None:
        await c.delete_extension(extension)
        done(s, {"deleted": extension}, f"deleted extension {extension}")

    s.run(ADMIN, body)


def _group_line(g: api_tenant.RingGroup) -> str:
    how = "in order" if g.strategy == api_tenant.RING_IN_ORDER else "all at once"
    box = f", voicemail {g.voicemail_extension}" if g.voicemail_extension else ""
    return (f"ring group {g.group_id}: {', '.join(g.extensions)} "
            f"({how}, {g.ring_timeout_s}s{box})")


@click.group(cls=Group)
def group() -> None:
    """Admin: ring groups (several extensions rung all at once or in order)."""


@group.command("list")
@pass_session
def group_list(s: Session) -> None:
    """Every ring group."""

    async def body(c: FabricClient) -> None:
        groups = await c.list_ring_groups()
        emit(s, [as_dict(g) for g in groups],
             ["group", "extensions", "strategy", "ring s", "voicemail"],
             [(g.group_id, ", ".join(g.extensions),
               enum(api_tenant.RingStrategy.Name(g.strategy), "RING_"), g.ring_timeout_s,
               g.voicemail_extension or "-")
              for g in groups])

    s.run(ADMIN, body)


@group.command("get")
@GROUP
@pass_session
def group_get(s: Session, group_id: str) -> None:
    """One ring group."""

    async def body(c: FabricClient) -> None:
        g = find_group(await c.get_config(), group_id)
        emit_fields(s, as_dict(g), [
            ("group", g.group_id), ("extensions", ", ".join(g.extensions)),
            ("strategy", enum(api_tenant.RingStrategy.Name(g.strategy), "RING_")),
            ("ring", f"{g.ring_timeout_s} s"),
            ("voicemail", g.voicemail_extension or "none")])

    s.run(ADMIN, body)


STRATEGY = click.option("--in-order/--all-at-once", "in_order", default=None,
                        help="ring one after another, or all at once (default)")
RING = click.option("--ring-timeout", type=click.IntRange(5, 120),
                    help="seconds per member in order, or for the whole group (5-120)")
VOICEMAIL = click.option("--voicemail", "voicemail", metavar="EXT",
                         help="the group's shared mailbox: an extension with voicemail on "
                         "that takes the calls nobody answered ('' for none)")


@group.command("add")
@GROUP
@click.argument("extensions", nargs=-1, required=True, callback=check_extensions)
@STRATEGY
@RING
@VOICEMAIL
@pass_session
def group_add(s: Session, group_id: str, extensions: tuple[str, ...], in_order: bool | None,
              ring_timeout: int | None, voicemail: str | None) -> None:
    """Create a ring group; refuses an existing one."""

    async def body(c: FabricClient) -> None:
        if any(g.group_id == group_id for g in await c.list_ring_groups()):
            raise click.ClickException(
                f"ring group {group_id!r} exists: `fabric group set {group_id} ...` changes it")
        strategy = api_tenant.RING_IN_ORDER if in_order else api_tenant.RING_ALL_AT_ONCE
        g = await c.put_ring_group(group_id, list(extensions), strategy, ring_timeout or 0,
                                   voicemail or "")
        done(s, as_dict(g), _group_line(g))

    s.run(ADMIN, body)


@group.command("set")
@GROUP
@click.option("--members", metavar="EXT,EXT", help="replace the members (comma-separated)")
@click.option("--add", "adds", multiple=True, callback=check_extensions, metavar="EXT",
              help="add a member (repeatable)")
@click.option("--remove", "removes", multiple=True, callback=check_extensions, metavar="EXT",
              help="remove a member (repeatable)")
@STRATEGY
@RING
@VOICEMAIL
@pass_session
def group_set(s: Session, group_id: str, members: str | None, adds: tuple[str, ...],
              removes: tuple[str, ...], in_order: bool | None,
              ring_timeout: int | None, voicemail: str | None) -> None:
    """Change only the given settings of a ring group."""
    new_members = None
    if members is not None:
        new_members = [m.strip() for m in members.split(",") if m.strip()]
        check_extensions(click.get_current_context(), click.Option(["--members"]),
                         tuple(new_members))

    async def body(c: FabricClient) -> None:
        g = api_tenant.RingGroup()
        g.CopyFrom(find_group(await c.get_config(), group_id))
        exts = new_members if new_members is not None else list(g.extensions)
        exts += [a for a in adds if a not in exts]
        exts = [x for x in exts if x not in removes]
        del g.extensions[:]
        g.extensions.extend(exts)
        if in_order is not None:
            g.strategy = api_tenant.RING_IN_ORDER if in_order else api_tenant.RING_ALL_AT_ONCE
        if ring_timeout is not None:
            g.ring_timeout_s = ring_timeout
        if voicemail is not None:
            g.voicemail_extension = voicemail
        made = await c.put_ring_group(g.group_id, list(g.extensions), g.strategy,
                                      g.ring_timeout_s, g.voicemail_extension)
        done(s, as_dict(made), _group_line(made))

    s.run(ADMIN, body)


@group.command("delete")
@GROUP
@yes_option
@pass_session
def group_delete(s: Session, group_id: str, yes: bool) -> None:
    """Remove a ring group no number route or business hours use."""
    confirm(yes, f"delete ring group {group_id}?")

    async def body(c: FabricClient) -> None:
        await c.delete_ring_group(group_id)
        done(s, {"deleted": group_id}, f"deleted ring group {group_id}")

    s.run(ADMIN, body)

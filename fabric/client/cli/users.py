"""``fabric user`` and ``fabric key`` (tenant owners and admins)."""

from __future__ import annotations

import click

from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client.client import FabricClient
from fabric.errors import FabricError

from .base import Group, confirm, pass_session, yes_option
from .checks import check_extension, find_user, role_name
from .output import as_dict, done, emit, emit_fields, when
from .session import ADMIN, Session

ROLES = {"owner": api_common.ROLE_OWNER, "admin": api_common.ROLE_ADMIN,
         "member": api_common.ROLE_MEMBER}


@click.group(cls=Group)
def user() -> None:
    """Admin: the people of your tenant (a user has extensions and API keys)."""


@user.command("list")
@pass_session
def user_list(s: Session) -> None:
    """Every user with their role and extensions."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        exts: dict[str, list[str]] = {}
        for e in cfg.extensions:
            exts.setdefault(e.user_id, []).append(e.extension)
        emit(s, [{**as_dict(u), "extensions": exts.get(u.user_id, [])} for u in cfg.users],
             ["user", "name", "role", "extensions"],
             [(u.user_id, u.name, role_name(u.role), ", ".join(exts.get(u.user_id, [])) or "-")
              for u in cfg.users])

    s.run(ADMIN, body)


@user.command("get")
@click.argument("who", metavar="USER")
@pass_session
def user_get(s: Session, who: str) -> None:
    """One user (by id or exact name), with extensions and keys."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        u = find_user(cfg, who)
        exts = [e.extension for e in cfg.extensions if e.user_id == u.user_id]
        keys = [k.key_id for k in await c.list_api_keys() if k.user_id == u.user_id]
        emit_fields(s, {**as_dict(u), "extensions": exts, "keys": keys}, [
            ("user", u.user_id), ("name", u.name), ("role", role_name(u.role)),
            ("extensions", ", ".join(exts) or "-"), ("API keys", ", ".join(keys) or "-"),
        ])

    s.run(ADMIN, body)


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(sorted(ROLES)), default="member", show_default=True)
@click.option("--ext", callback=check_extension, help="also give the user this extension")
@click.option("--voicemail", is_flag=True, help="voicemail on for --ext")
@click.option("--key", is_flag=True, help="also make an API key for the user (shown once)")
@click.option("--force", is_flag=True,
              help="--ext may take an extension from another user (its settings are kept)")
@pass_session
def user_add(s: Session, name: str, role: str, ext: str | None, voicemail: bool, key: bool,
             force: bool) -> None:
    """Add a user, optionally with an extension and a key: all or nothing."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        if any(u.name == name for u in cfg.users):
            click.echo(f"note: a user named {name!r} exists already; adding another", err=True)
        old = next((e for e in cfg.extensions if e.extension == ext), None)
        if old is not None and not force:
            holder = next((u.name for u in cfg.users if u.user_id == old.user_id), "?")
            raise click.ClickException(
                f"extension {ext} belongs to {holder} ({old.user_id}); pass --force to give "
                f"it to {name}, or pick a free extension (see `fabric ext list`)")
        made = await c.create_user(name, ROLES[role])
        out: dict[str, object] = {"user": as_dict(made)}
        lines = [f"user {made.user_id}  {made.name}  {role}"]
        try:
            if ext:
                new = api_tenant.Extension(extension=ext, user_id=made.user_id,
                                           voicemail=voicemail)
                if old is not None:  # --force: keep its settings, change the user only
                    new.CopyFrom(old)
                    new.user_id = made.user_id
                    new.voicemail = old.voicemail or voicemail
                e = await c.put_extension_message(new)
                out["extension"] = as_dict(e)
                lines.append(f"extension {e.extension} -> {made.user_id}")
            if key:
                k = await c.create_api_key(made.user_id)
                out["api_key"] = k.secret
                lines.append(f"API key (shown once):\n  {k.secret}")
        except (FabricError, click.ClickException):
            await _undo(c, made.user_id, ext, old)
            raise
        done(s, out, "\n".join(lines))

    s.run(ADMIN, body)


async def _undo(c: FabricClient, user_id: str, ext: str | None,
                old: api_tenant.Extension | None) -> None:
    """Put back what ``user add`` changed before a later step failed."""
    if ext:
        try:
            if old is not None:
                await c.put_extension_message(old)
            else:
                await c.delete_extension(ext)
        except FabricError:
            pass  # never made
    await c.delete_user(user_id)


@user.command("delete")
@click.argument("who", metavar="USER")
@yes_option
@pass_session
def user_delete(s: Session, who: str, yes: bool) -> None:
    """Remove a user and their API keys (their extensions must be deleted or moved first)."""

    async def body(c: FabricClient) -> None:
        u = find_user(await c.get_config(), who)
        confirm(yes, f"delete user {u.name} ({u.user_id}) and their API keys?")
        await c.delete_user(u.user_id)
        done(s, {"deleted": u.user_id}, f"deleted user {u.user_id} ({u.name})")

    s.run(ADMIN, body)


@click.group(cls=Group)
def key() -> None:
    """Admin: API keys (a key acts as its user, with the user's role)."""


@key.command("list")
@pass_session
def key_list(s: Session) -> None:
    """Every key of your tenant (never the secrets)."""

    async def body(c: FabricClient) -> None:
        cfg = await c.get_config()
        names = {u.user_id: u.name for u in cfg.users}
        keys = await c.list_api_keys()
        emit(s, [as_dict(k) for k in keys], ["key", "user", "name", "role", f"created ({s.tz})"],
             [(k.key_id, k.user_id, names.get(k.user_id, "?"), role_name(k.role),
               when(k.created_at_ms, s.tz)) for k in keys])

    s.run(ADMIN, body)


@key.command("get")
@click.argument("key_id")
@pass_session
def key_get(s: Session, key_id: str) -> None:
    """One key (never its secret)."""

    async def body(c: FabricClient) -> None:
        for k in await c.list_api_keys():
            if k.key_id == key_id:
                emit_fields(s, as_dict(k), [("key", k.key_id), ("user", k.user_id),
                                            ("role", role_name(k.role)),
                                            (f"created ({s.tz})", when(k.created_at_ms, s.tz))])
                return
        raise click.ClickException(f"no API key {key_id} (see `fabric key list`)")

    s.run(ADMIN, body)


@key.command("add")
@click.argument("who", metavar="USER")
@pass_session
def key_add(s: Session, who: str) -> None:
    """Make an API key for a user (by id or exact name); the secret is shown once."""

    async def body(c: FabricClient) -> None:
        u = find_user(await c.get_config(), who)
        k = await c.create_api_key(u.user_id)
        done(s, {"key": as_dict(k.key), "secret": k.secret},
             f"API key {k.key.key_id} for {u.user_id} ({u.name}), shown once:\n  {k.secret}")

    s.run(ADMIN, body)


@key.command("delete")
@click.argument("key_id")
@yes_option
@pass_session
def key_delete(s: Session, key_id: str, yes: bool) -> None:
    """Revoke a key (alias: revoke): it stops working at once, streams end."""
    confirm(yes, f"revoke API key {key_id}?")

    async def body(c: FabricClient) -> None:
        await c.revoke_api_key(key_id)
        done(s, {"revoked": key_id}, f"revoked API key {key_id}")

    s.run(ADMIN, body)

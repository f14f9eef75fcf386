"""Argument checks made before any call, and lookups by id or name; each message names
the bad value."""

from __future__ import annotations

import re

import click

from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant

from .output import enum

EXTENSION = re.compile(r"\d{2,8}")
E164 = re.compile(r"\+[1-9]\d{7,14}")
GROUP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def role_name(role: int) -> str:
    """``ROLE_ADMIN`` -> ``admin``."""
    return enum(api_common.Role.Name(role), "ROLE_")  # type: ignore[arg-type]


def check_extension(
    ctx: click.Context | None, param: click.Parameter | None, value: str | None
) -> str | None:
    """A click callback: an extension is 2 to 8 digits."""
    if value is not None and not EXTENSION.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not an extension (2 to 8 digits, e.g. 101)")
    return value


def check_extensions(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """A click callback for several extensions."""
    for one in value:
        check_extension(ctx, param, one)
    return value


def check_group_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: a ring group id is 1-32 of [a-z0-9-]."""
    if value is not None and not GROUP_ID.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a ring group id (1-32 of a-z, 0-9 and '-', e.g. sales)")
    return value


def check_forward_target(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A click callback: forward to an extension or an E.164 number (+ and 7-15 digits)."""
    if value is None or EXTENSION.fullmatch(value) or E164.fullmatch(value):
        return value
    raise click.BadParameter(
        f"{value!r} is neither an extension (2 to 8 digits) nor an E.164 number "
        "(e.g. +15550100123)")


def destination(value: str) -> dict[str, str]:
    """A dial or transfer target: ``{"number": ...}`` or ``{"extension": ...}``."""
    if value.startswith("+"):
        if not E164.fullmatch(value):
            raise click.BadParameter(f"{value!r} is not an E.164 number (e.g. +15550100123)")
        return {"number": value}
    check_extension(None, None, value)
    return {"extension": value}


def find_user(cfg: api_tenant.TenantConfig, who: str) -> api_tenant.User:
    """The user whose id is ``who``, else the one user named ``who``."""
    for u in cfg.users:
        if u.user_id == who:
            return u
    named = [u for u in cfg.users if u.name == who]
    if len(named) == 1:
        return named[0]
    if named:
        raise click.ClickException(
            f"{len(named)} users are named {who!r}: give the user id "
            f"({', '.join(u.user_id for u in named)})")
    raise click.ClickException(f"no user {who!r} in your tenant (see `fabric user list`)")


def find_extension(cfg: api_tenant.TenantConfig, extension: str) -> api_tenant.Extension:
    """The extension ``extension`` of ``cfg``."""
    for e in cfg.extensions:
        if e.extension == extension:
            return e
    raise click.ClickException(
        f"no extension {extension} in your tenant (`fabric ext add {extension} USER` makes it)")


def find_group(cfg: api_tenant.TenantConfig, group_id: str) -> api_tenant.RingGroup:
    """The ring group ``group_id`` of ``cfg``."""
    for g in cfg.ring_groups:
        if g.group_id == group_id:
            return g
    raise click.ClickException(
        f"no ring group {group_id!r} in your tenant (`fabric group add {group_id} EXT...`)")

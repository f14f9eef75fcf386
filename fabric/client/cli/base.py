"""Shared click pieces: the group class with verb aliases, the session decorator, the
``--yes`` confirmation and the global options (accepted before or after the subcommand)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .session import Session

F = TypeVar("F", bound=Callable[..., Any])

ALIASES = {
    "create": "add",
    "show": "get",
    "ls": "list",
    "remove": "delete",
    "rm": "delete",
    "close": "delete",
    "revoke": "delete",
    "allocate": "add",
    "release": "delete",
    "route": "set",
}
"""Older or familiar verbs, resolved to the standard one when the group has no such verb."""


class Group(click.Group):
    """A click group that resolves ``ALIASES`` (hidden from help)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, or the standard verb it is an alias of."""
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in ALIASES:
            found = super().get_command(ctx, ALIASES[cmd_name])
        return found

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Report the standard verb's name for an alias."""
        name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd is not None else name), cmd, rest


pass_session = click.make_pass_decorator(Session)


def yes_option(f: F) -> F:
    """``--yes``: do not ask before a destructive change."""
    return click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")(f)


def confirm(yes: bool, question: str) -> None:
    """Ask ``question`` unless ``yes``; abort (exit 1) on no or without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        click.echo(f"error: {question} - refused without a terminal; pass --yes", err=True)
        raise SystemExit(1)
    if not click.confirm(question, default=False):
        click.echo("nothing changed", err=True)
        raise SystemExit(1)


GLOBAL_VALUE_OPTIONS = ("--target", "--ca", "--token-file", "--config", "--profile",
                        "--output", "-o", "--tz")
GLOBAL_FLAGS = ("--insecure",)


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move global options found after the subcommand to the front, so
    ``fabric user list --output json`` works like ``fabric --output json user list``."""
    front: list[str] = []
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_FLAGS:
            front.append(arg)
        elif name in GLOBAL_VALUE_OPTIONS:
            front.append(arg)
            if "=" not in arg and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest

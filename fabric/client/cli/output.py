"""Printing results: a table (rich) or JSON (``--output json``), times in ``--tz``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from .session import Session


def check_tz(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: ``value`` must be an IANA time zone."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Paris)"
        ) from None
    return value


def when(ms: int, tz: str) -> str:
    """A millisecond timestamp in zone ``tz`` ('-' for 0)."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def enum(name: str, prefix: str) -> str:
    """``CALL_STATE_RINGING`` -> ``ringing``."""
    return name.removeprefix(prefix).lower().replace("_", "-")


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data (proto field names, defaults included)."""
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def emit(
    session: Session,
    data: Any,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    title: str | None = None,
) -> None:
    """Print ``data`` as JSON, or ``rows`` under ``header`` as a table."""
    if session.output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    table = Table(title=title, show_edge=False, box=None, header_style="bold", pad_edge=False)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    Console(soft_wrap=True, width=200).print(table)


def emit_fields(session: Session, data: Any, fields: Sequence[tuple[str, object]]) -> None:
    """Print one object: JSON, or one ``name: value`` line per field."""
    if session.output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(f"{name:>{width}}: {value}")


def done(session: Session, data: Any, line: str) -> None:
    """Print the result of a change: JSON, or one line."""
    if session.output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(line)

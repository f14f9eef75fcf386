"""``fabric hours``: business hours (tenant owners and admins); ``set`` changes only the
parts given."""

from __future__ import annotations

import re

import click

from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client.client import FabricClient

from .base import Group, confirm, pass_session, yes_option
from .checks import check_extension, check_group_id
from .output import as_dict, check_tz, done, emit_fields
from .session import ADMIN, Session

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_interval(text: str) -> list[api_tenant.OpenInterval]:
    """'mon-fri 09:00-17:00' -> one OpenInterval per day; BadParameter naming ``text``."""
    m = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)",
                     text.strip().lower())
    if not m or m[1] not in DAYS or (m[2] and m[2] not in DAYS):
        raise click.BadParameter(f"wants e.g. 'mon-fri 09:00-17:00', got {text!r}")
    first, last = DAYS.index(m[1]), DAYS.index(m[2] or m[1])
    start, end = int(m[3]) * 60 + int(m[4]), int(m[5]) * 60 + int(m[6])
    if first > last or not start < end <= 1440:
        raise click.BadParameter(f"days or times run backwards or past 24:00 in {text!r}")
    return [api_tenant.OpenInterval(weekday=d, start_minute=start, end_minute=end)
            for d in range(first, last + 1)]


def _hours_rows(h: api_tenant.BusinessHours) -> list[tuple[str, object]]:
    spans = [f"{DAYS[i.weekday]} {i.start_minute // 60:02}:{i.start_minute % 60:02}-"
             f"{i.end_minute // 60:02}:{i.end_minute % 60:02}" for i in h.open]
    after = (h.after_hours_extension or
             (f"group {h.after_hours_ring_group}" if h.after_hours_ring_group else "-"))
    return [("enabled", "yes" if h.enabled else "no"), ("time zone", h.timezone or "UTC"),
            ("open", ", ".join(spans) or "-"), ("after hours", after)]


@click.group(cls=Group)
def hours() -> None:
    """Admin: business hours (outside them, calls to your numbers ring the after-hours target)."""


@hours.command("get")
@pass_session
def hours_get(s: Session) -> None:
    """The business hours (alias: show)."""

    async def body(c: FabricClient) -> None:
        h = (await c.get_config()).business_hours
        emit_fields(s, as_dict(h), _hours_rows(h))

    s.run(ADMIN, body)


@hours.command("set")
@click.option("--timezone", callback=lambda c, p, v: v if v is None else _zone(v),
              help="IANA time zone of the hours (e.g. Europe/Paris)")
@click.option("--open", "opens", multiple=True, metavar="'DAYS HH:MM-HH:MM'",
              help="e.g. 'mon-fri 09:00-17:00' (repeatable; replaces the intervals)")
@click.option("--after-hours-ext", callback=check_extension)
@click.option("--after-hours-group", callback=check_group_id)
@click.option("--on/--off", "enabled", default=None, help="enable or disable the hours")
@pass_session
def hours_set(s: Session, timezone: str | None, opens: tuple[str, ...],
              after_hours_ext: str | None, after_hours_group: str | None,
              enabled: bool | None) -> None:
    """Change only the given parts of the business hours."""
    if after_hours_ext and after_hours_group:
        raise click.UsageError("give --after-hours-ext or --after-hours-group, not both")
    intervals = [iv for text in opens for iv in parse_interval(text)]

    async def body(c: FabricClient) -> None:
        h = api_tenant.BusinessHours()
        h.CopyFrom((await c.get_config()).business_hours)
        if timezone is not None:
            h.timezone = timezone
        if opens:
            del h.open[:]
            h.open.extend(intervals)
        if after_hours_ext:
            h.after_hours_extension = after_hours_ext
        elif after_hours_group:
            h.after_hours_ring_group = after_hours_group
        h.enabled = enabled if enabled is not None else (h.enabled or bool(opens))
        made = await c.set_business_hours(h)
        if s.output == "json":
            done(s, as_dict(made), "")
        else:
            emit_fields(s, as_dict(made), _hours_rows(made))

    s.run(ADMIN, body)


@hours.command("delete")
@yes_option
@pass_session
def hours_delete(s: Session, yes: bool) -> None:
    """Turn business hours off and forget them (calls always ring the number's route)."""
    confirm(yes, "turn business hours off and forget them?")

    async def body(c: FabricClient) -> None:
        made = await c.set_business_hours(api_tenant.BusinessHours(enabled=False))
        done(s, as_dict(made), "business hours off")

    s.run(ADMIN, body)


def _zone(value: str) -> str:
    result = check_tz(click.get_current_context(), click.Option(["--timezone"]), value)
    assert result is not None
    return result

"""``fabric cdr``: call detail records (tenant owners and admins)."""

from __future__ import annotations

import time

import click

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import records_pb2 as api_records
from fabric.client.client import FabricClient

from .base import Group, pass_session
from .output import as_dict, emit, emit_fields, enum, when
from .session import MEMBER, Session

MAX_HOURS = 24 * 366


def _disposition(r: api_records.CdrRecord) -> str:
    return enum(api_calls.EndReason.Name(r.disposition), "END_REASON_")


@click.group(cls=Group)
def cdr() -> None:
    """Call detail records (one per call, written when it ends): admins see every call, a
    member only their own."""


@cdr.command("list")
@click.option("--hours", type=click.FloatRange(0, MAX_HOURS, min_open=True), default=24.0,
              show_default=True, help="how far back")
@click.option("--number", help="only calls from or to this number or extension")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="at most this many records (1-1000)")
@pass_session
def cdr_list(s: Session, hours: float, number: str | None, limit: int) -> None:
    """The latest calls."""
    start = int((time.time() - hours * 3600) * 1000)

    async def body(c: FabricClient) -> None:
        page = await c.query_cdrs(start, number=number or "", page_size=limit)
        emit(s, [as_dict(r) for r in page.records],
             [f"started ({s.tz})", "call", "from", "to", "disposition", "talk"],
             [(when(r.started_at_ms, s.tz), r.call_id, getattr(r, "from"), r.to,
               _disposition(r), f"{r.duration_s:.0f}s") for r in page.records])

    s.run(MEMBER, body)


@cdr.command("get")
@click.argument("call_id")
@pass_session
def cdr_get(s: Session, call_id: str) -> None:
    """One call's record (alias: show), with the relay's packet counts."""

    async def body(c: FabricClient) -> None:
        r = await c.get_cdr(call_id)
        emit_fields(s, as_dict(r), [
            ("call", r.call_id), ("from", getattr(r, "from")), ("to", r.to),
            ("direction", r.direction), ("disposition", _disposition(r)),
            ("cause", r.hangup_cause), (f"started ({s.tz})", when(r.started_at_ms, s.tz)),
            ("answered", when(r.answered_at_ms, s.tz)), ("ended", when(r.ended_at_ms, s.tz)),
            ("talk time", f"{r.duration_s:.0f} s"),
            ("media", f"{r.packets_received} packets in, {r.packets_sent} out, "
                      f"{r.packets_lost} lost, jitter {r.jitter_ms:.1f} ms"),
            ("recorded", _recorded(r, s.tz)),
        ])

    s.run(MEMBER, body)


def _recorded(r: api_records.CdrRecord, tz: str) -> str:
    """The CDR's recording fields on one line."""
    if not r.recorded:
        return "no"
    by = f" by {r.recording_requested_by}" if r.recording_requested_by else ""
    objection = f", objected by {r.recording_objection}" if r.recording_objection else ""
    return (f"yes ({r.recording_consent}{by}; announced {when(r.recording_announced_at_ms, tz)}"
            f"{objection}): {', '.join(r.recording_ids)}")

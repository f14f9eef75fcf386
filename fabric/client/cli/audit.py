"""``fabric audit``: a tenant's audit log (owners and admins: their own tenant's;
carrier-admins: ``--tenant ID`` or ``--tenant carrier``)."""

from __future__ import annotations

import time
from datetime import datetime

import click

from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.client.client import FabricClient

from .base import Group, pass_session
from .output import as_dict, emit, emit_fields
from .session import ADMIN, OPERATOR, Session, fail

MAX_HOURS = 24 * 366 * 7


def needs(s: Session) -> str:
    """A tenant key reads its own tenant's log; carrier staff name one."""
    return ADMIN if s.credential().is_tenant_key else OPERATOR


def _when(at_us: int, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(at_us / 1e6, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


@click.group(cls=Group)
def audit() -> None:
    """The audit log: who read, exported, changed or deleted what, when, from where and
    with which outcome (never content); hash-chained, kept 7 years."""


@audit.command("list")
@click.option("--tenant", help="carrier staff: the tenant's log, or 'carrier'")
@click.option("--hours", type=click.FloatRange(0, MAX_HOURS, min_open=True), default=24.0,
              show_default=True, help="how far back")
@click.option("--principal", help="only this user or operator id")
@click.option("--method", help="only this method (e.g. GetCdr)")
@click.option("--class", "object_class", help="only this object class (e.g. cdr, tenant)")
@click.option("--outcome", help="only this outcome (e.g. OK, PERMISSION_DENIED)")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="at most this many entries per page (1-1000)")
@click.option("--all", "every", is_flag=True, help="follow every page")
@pass_session
def audit_list(s: Session, tenant: str | None, hours: float, principal: str | None,
               method: str | None, object_class: str | None, outcome: str | None,
               limit: int, every: bool) -> None:
    """The latest entries, newest first."""
    role = needs(s)
    if role == OPERATOR and not tenant:
        fail("carrier staff name the log: --tenant <tenant id> or --tenant carrier", 2)
    since = int((time.time() - hours * 3600) * 1e6)

    async def body(c: FabricClient) -> None:
        stub = audit_pb2_grpc.AuditStub(c.channel)
        entries: list[api_audit.AuditEntry] = []
        token = ""
        while True:
            page = await c.call(stub.QueryAuditLog, api_audit.QueryAuditLogRequest(
                tenant_id=tenant or "", since_us=since, principal=principal or "",
                method=method or "", object_class=object_class or "", outcome=outcome or "",
                limit=limit, page_token=token))
            entries += page.entries
            token = page.next_page_token
            if not every or not token:
                break
        emit(s, [as_dict(e) for e in entries],
             [f"when ({s.tz})", "who", "role", "key", "method", "object", "from", "outcome"],
             [(_when(e.at_us, s.tz), e.principal, e.role, e.key_id,
               e.method.rpartition("/")[2], f"{e.object_class}:{e.object_id}".rstrip(":"),
               e.peer, e.outcome + (f" [{e.error_id}]" if e.error_id else ""))
              for e in entries])

    s.run(role, body)


@audit.command("verify")
@click.option("--tenant", help="carrier staff: the tenant's log, or 'carrier'")
@pass_session
def audit_verify(s: Session, tenant: str | None) -> None:
    """Re-check every hash and link of the log; exit 1 if an entry was edited or removed."""
    role = needs(s)
    if role == OPERATOR and not tenant:
        fail("carrier staff name the log: --tenant <tenant id> or --tenant carrier", 2)
    verdict: list[api_audit.VerifyAuditLogResponse] = []

    async def body(c: FabricClient) -> None:
        stub = audit_pb2_grpc.AuditStub(c.channel)
        v = await c.call(stub.VerifyAuditLog,
                         api_audit.VerifyAuditLogRequest(tenant_id=tenant or ""))
        verdict.append(v)
        emit_fields(s, as_dict(v), [
            ("verdict", "intact" if v.ok else "TAMPERED"), ("entries", v.entries),
            ("streams", v.streams), *(("problem", p) for p in v.problems)])

    s.run(role, body)
    if verdict and not verdict[0].ok:
        raise SystemExit(1)

"""``fabric operator`` (named carrier staff) and ``fabric compliance`` (BAA and DPA records,
HIPAA mode). Operators and documents need the operator token or a carrier-admin's key."""

from __future__ import annotations

import datetime as dt

import click

from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.client.client import FabricClient

from .audit import needs
from .base import Group, confirm, pass_session, yes_option
from .output import as_dict, done, emit, emit_fields, enum, when
from .session import ADMIN, OPERATOR, Session, fail

ROLES = {"carrier-admin": api_audit.OPERATOR_ROLE_CARRIER_ADMIN,
         "support": api_audit.OPERATOR_ROLE_SUPPORT,
         "billing": api_audit.OPERATOR_ROLE_BILLING}
KINDS = {"baa": api_audit.DOCUMENT_KIND_BAA, "dpa": api_audit.DOCUMENT_KIND_DPA}


def _role(op: api_audit.Operator) -> str:
    return enum(api_audit.OperatorRole.Name(op.role), "OPERATOR_ROLE_")


@click.group(cls=Group)
def operator() -> None:
    """Named carrier staff, each with their own API key: carrier-admin (everything the
    operator token does), support (tenant metadata, never content), billing."""


@operator.command("list")
@pass_session
def operator_list(s: Session) -> None:
    """Every operator (never a key)."""

    async def body(c: FabricClient) -> None:
        got = await c.call(audit_pb2_grpc.OperatorsStub(c.channel).ListOperators,
                           api_audit.ListOperatorsRequest())
        emit(s, [as_dict(o) for o in got.operators],
             ["operator", "name", "role", "key", f"created ({s.tz})", "by", "revoked"],
             [(o.operator_id, o.name, _role(o), o.key_id, when(o.created_at_ms, s.tz),
               o.created_by, "yes" if o.revoked else "") for o in got.operators])

    s.run(OPERATOR, body)


@operator.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True, help="their role")
@pass_session
def operator_add(s: Session, name: str, role: str) -> None:
    """Create an operator; prints their API key once (give it to them, do not keep it)."""
    if not name.strip() or len(name) > 100:
        fail("NAME must be 1 to 100 characters", 2)

    async def body(c: FabricClient) -> None:
        made = await c.call(audit_pb2_grpc.OperatorsStub(c.channel).CreateOperator,
                            api_audit.CreateOperatorRequest(name=name, role=ROLES[role]))
        emit_fields(s, as_dict(made), [
            ("operator", made.operator.operator_id), ("role", _role(made.operator)),
            ("api key", made.api_key), ("note", "shown once: the fabric keeps only its hash")])

    s.run(OPERATOR, body)


@operator.command("delete")
@click.argument("operator_id")
@yes_option
@pass_session
def operator_delete(s: Session, operator_id: str, yes: bool) -> None:
    """Revoke an operator's key for good (alias: revoke)."""
    confirm(yes, f"revoke operator {operator_id}?")

    async def body(c: FabricClient) -> None:
        op = await c.call(audit_pb2_grpc.OperatorsStub(c.channel).RevokeOperator,
                          api_audit.RevokeOperatorRequest(operator_id=operator_id))
        done(s, as_dict(op), f"revoked {op.operator_id} ({op.name})")

    s.run(OPERATOR, body)


def _show(s: Session, r: api_audit.ComplianceRecord) -> None:
    docs = [f"{enum(api_audit.DocumentKind.Name(d.kind), 'DOCUMENT_KIND_')} signed by "
            f"{d.signer} on {d.signed_on} ({d.reference}; recorded by {d.recorded_by})"
            for d in r.documents]
    emit_fields(s, as_dict(r), [("tenant", r.tenant_id), ("region", r.region),
                                ("hipaa mode", "on" if r.hipaa_mode else "off"),
                                *(("document", d) for d in docs or ["none"])])


@click.group(cls=Group)
def compliance() -> None:
    """A tenant's compliance record: signed BAA / DPA on file, HIPAA mode, region."""


@compliance.command("get")
@click.argument("tenant_id", required=False)
@pass_session
def compliance_get(s: Session, tenant_id: str | None) -> None:
    """The record (a tenant key: its own tenant; carrier staff: TENANT_ID)."""
    role = needs(s)
    if role == OPERATOR and not tenant_id:
        fail("carrier staff name the tenant: fabric compliance get <tenant id>", 2)

    async def body(c: FabricClient) -> None:
        _show(s, await c.call(audit_pb2_grpc.ComplianceStub(c.channel).GetCompliance,
                              api_audit.GetComplianceRequest(tenant_id=tenant_id or "")))

    s.run(role, body)


@compliance.command("document")
@click.argument("tenant_id")
@click.option("--kind", type=click.Choice(sorted(KINDS)), required=True,
              help="baa (HIPAA Business Associate Agreement) or dpa (EU Data Processing "
                   "Addendum)")
@click.option("--signer", required=True, help="who signed for the tenant")
@click.option("--signed-on", required=True, help="the date signed, YYYY-MM-DD")
@click.option("--reference", required=True, help="where the signed copy is kept")
@pass_session
def compliance_document(s: Session, tenant_id: str, kind: str, signer: str, signed_on: str,
                        reference: str) -> None:
    """Record a signed document for a tenant (operator token or carrier-admin)."""
    try:
        dt.date.fromisoformat(signed_on)
    except ValueError:
        fail(f"--signed-on {signed_on!r} must be a date YYYY-MM-DD", 2)

    async def body(c: FabricClient) -> None:
        _show(s, await c.call(
            audit_pb2_grpc.ComplianceStub(c.channel).RecordDocument,
            api_audit.RecordDocumentRequest(tenant_id=tenant_id, document=api_audit.
                                            ComplianceDocument(kind=KINDS[kind], signer=signer,
                                                               signed_on=signed_on,
                                                               reference=reference))))

    s.run(OPERATOR, body)


@compliance.command("hipaa")
@click.argument("state", type=click.Choice(["on", "off"]))
@pass_session
def compliance_hipaa(s: Session, state: str) -> None:
    """Turn your tenant's HIPAA mode on (Pro plan and a BAA on file) or off."""

    async def body(c: FabricClient) -> None:
        _show(s, await c.call(audit_pb2_grpc.ComplianceStub(c.channel).SetHipaaMode,
                              api_audit.SetHipaaModeRequest(on=state == "on")))

    s.run(ADMIN, body)

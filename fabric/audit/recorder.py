"""The edge's hook: one call per RPC writes its entries (called by the edge interceptor).

A tenant's caller's entry goes to that tenant's log. Carrier staff (operators, support,
billing, the bootstrap token) get an entry in the carrier's log for every call and, when
the request names a tenant, one in that tenant's log too: a tenant's admins see support
reading their metadata. If the log cannot be written the RPC fails with ``UNAVAILABLE
audit-unavailable`` (its answer is withheld), so nothing is read without a trace.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from fabric.audit.chain import AuditWriter
from fabric.audit.entry import CARRIER_LOG, AuditEntry
from fabric.audit.objects import NOT_AUDITED, object_id, spec_of, target_tenant
from fabric.errors import FabricError, Unavailable

log = logging.getLogger(__name__)


class Who(Protocol):
    """What the recorder reads of a principal (``fabric.edge.auth.Principal``)."""

    @property
    def role(self) -> Any:
        """The role (a str enum)."""
        ...

    @property
    def tenant_id(self) -> str:
        """The caller's tenant ('' for carrier staff)."""
        ...

    @property
    def user_id(self) -> str:
        """The user or operator id."""
        ...

    @property
    def key_id(self) -> str:
        """The id of the key used."""
        ...


class AuditRecorder:
    """Turns one RPC into its audit entries."""

    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer

    @staticmethod
    def audited(method: str) -> bool:
        """Whether ``method`` writes entries (call signalling does not)."""
        return method not in NOT_AUDITED

    async def record(self, method: str, who: Who, request: Any, peer: str,
                     outcome: str, error_id: str = "") -> list[AuditEntry]:
        """Write the RPC's entries; ``Unavailable audit-unavailable`` if that fails."""
        if not self.audited(method):
            return []
        spec = spec_of(method)
        logs = [who.tenant_id] if who.tenant_id else [CARRIER_LOG]
        target = "" if who.tenant_id else target_tenant(request)
        if target and target not in logs:  # (a request naming the carrier's own log)
            logs.append(target)
        base = dict(
            stream="", seq=0, at_us=0, principal=who.user_id,
            role=str(getattr(who.role, "value", who.role)), principal_tenant=who.tenant_id,
            key_id=who.key_id, method=method, action=spec.action,
            object_class=spec.object_class, object_id=object_id(request, spec), peer=peer,
            outcome=outcome, error_id=error_id, prev_hash="")
        try:
            return await self.writer.append_all(
                [AuditEntry(log_id=log_id, **base) for log_id in logs])  # type: ignore[arg-type]
        except FabricError as exc:
            log.error("audit log not written (%s): refusing the answer", exc.error_id)
            raise Unavailable("the audit log cannot be written just now; retry",
                              error_id="audit-unavailable") from None
        except Exception:
            log.exception("audit log not written: refusing the answer")
            raise Unavailable("the audit log cannot be written just now; retry",
                              error_id="audit-unavailable") from None

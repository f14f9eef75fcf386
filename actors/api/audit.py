"""Audit: a tenant's owners and admins page through and verify their tenant's audit log;
carrier-admins (and the operator token) read any tenant's log or the carrier's own."""

from __future__ import annotations

import grpc

from actors import validate
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.audit.chain import verify_log
from fabric.audit.entry import CARRIER_LOG, AuditEntry
from fabric.audit.store import AuditQuery, AuditStore
from fabric.clock import Clock, SystemClock
from fabric.edge.auth import principal
from fabric.errors import InvalidArgument

DEFAULT_LIMIT = 100


def entry_to_pb(entry: AuditEntry) -> api_audit.AuditEntry:
    """The API's form of an entry."""
    return api_audit.AuditEntry(**entry.as_dict())


def log_of(tenant_id: str) -> str:
    """The log the caller may read: their own tenant's; carrier staff name one."""
    who = principal()
    if who.tenant_id:
        return who.tenant_id
    if not tenant_id:
        raise InvalidArgument("name the log: tenant_id = a tenant id, or 'carrier'",
                              error_id="missing-tenant-id")
    if tenant_id != CARRIER_LOG:
        validate.object_id(tenant_id, "tenant_id")
    return tenant_id


class AuditServicer(audit_pb2_grpc.AuditServicer):
    """QueryAuditLog and VerifyAuditLog."""

    def __init__(self, store: AuditStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    async def QueryAuditLog(  # noqa: N802
        self, request: api_audit.QueryAuditLogRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.QueryAuditLogResponse:
        """A page of the log, newest first."""
        page = await self.store.query(log_of(request.tenant_id), AuditQuery(
            since_us=request.since_us, until_us=request.until_us, principal=request.principal,
            method=request.method, object_class=request.object_class, outcome=request.outcome,
            limit=request.limit or DEFAULT_LIMIT, page_token=request.page_token))
        return api_audit.QueryAuditLogResponse(
            entries=[entry_to_pb(e) for e in page.entries], next_page_token=page.next_page_token)

    async def VerifyAuditLog(  # noqa: N802
        self, request: api_audit.VerifyAuditLogRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.VerifyAuditLogResponse:
        """Re-check the log's chains."""
        verdict = await verify_log(self.store, log_of(request.tenant_id), self.clock.now())
        return api_audit.VerifyAuditLogResponse(
            ok=verdict.ok, entries=verdict.entries, streams=verdict.streams,
            problems=verdict.problems[:1000])

"""Billing: the carrier's billing staff read a tenant's CDR metadata (duration, billable
seconds, disposition, direction) without numbers, names or content."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from actors import validate
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.cdr import Cdr
from fabric.errors import InvalidArgument
from fabric.storage.base import CdrStore

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def usage_of(cdr: Cdr) -> api_audit.UsageRecord:
    """A CDR's billing metadata (never its numbers)."""
    return api_audit.UsageRecord(
        call_id=cdr.call_id, started_at_ms=_ms(cdr.start_time), ended_at_ms=_ms(cdr.end_time),
        duration_s=cdr.duration_s, billable_s=cdr.billable_s,
        disposition=str(getattr(cdr.disposition, "value", cdr.disposition)),
        direction=str(getattr(cdr.direction, "value", cdr.direction)))


class BillingServicer(audit_pb2_grpc.BillingServicer):
    """QueryUsage over the gateway's CDR store."""

    def __init__(self, store: CdrStore) -> None:
        self.store = store

    async def QueryUsage(  # noqa: N802
        self, request: api_audit.QueryUsageRequest, context: grpc.aio.ServicerContext
    ) -> api_audit.QueryUsageResponse:
        """A page of the tenant's usage records."""
        validate.object_id(request.tenant_id, "tenant_id")
        until_ms = request.until_ms or int(datetime.now(UTC).timestamp() * 1000)
        if request.since_ms <= 0 or request.since_ms >= until_ms:
            raise InvalidArgument("since_ms must be > 0 and before until_ms",
                                  error_id="invalid-range")
        size = request.page_size or DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            raise InvalidArgument(f"page_size must be 1 to {MAX_PAGE}",
                                  error_id="invalid-page-size")
        page = await self.store.query(
            request.tenant_id, datetime.fromtimestamp(request.since_ms / 1000, UTC),
            datetime.fromtimestamp(until_ms / 1000, UTC), page_size=size,
            page_token=request.page_token)
        return api_audit.QueryUsageResponse(records=[usage_of(c) for c in page.records],
                                            next_page_token=page.next_page_token)

"""Records: a tenant's CDRs, read from the CDR store (Cassandra, or the embedded store).

Owners and admins read every CDR of their tenant; a member reads the CDRs of calls where
one of their own extensions was the caller or the dialled extension (a member who answered
a ring group's call does not see it: the CDR names the group). A query with no range covers
the last :data:`DEFAULT_RANGE_MS` (30 days).
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from actors import validate
from actors.api.principals import caller
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import records_pb2_grpc
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Cdr, Disposition
from fabric.clock import Clock, SystemClock
from fabric.errors import InvalidArgument, PermissionDenied
from fabric.storage.base import CdrStore

MAX_RANGE_MS = 366 * 24 * 3600 * 1000
DEFAULT_RANGE_MS = 30 * 24 * 3600 * 1000
MAX_PAGE = 1000
MAX_TOKEN = 2048

_REASON = {
    Disposition.ANSWERED: api_calls.END_REASON_COMPLETED,
    Disposition.NO_ANSWER: api_calls.END_REASON_NO_ANSWER,
    Disposition.BUSY: api_calls.END_REASON_REJECTED,
    Disposition.REJECTED: api_calls.END_REASON_REJECTED,
    Disposition.FAILED: api_calls.END_REASON_FAILED,
    Disposition.VOICEMAIL: api_calls.END_REASON_VOICEMAIL,
}


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def to_record(cdr: Cdr) -> api_records.CdrRecord:
    """The public form of a CDR."""
    reason = _REASON.get(Disposition(cdr.disposition), api_calls.END_REASON_FAILED)
    if cdr.hangup_cause == "caller-cancelled":
        reason = api_calls.END_REASON_CANCELLED
    elif cdr.hangup_cause == "media-timeout":
        reason = api_calls.END_REASON_MEDIA_TIMEOUT
    record = api_records.CdrRecord(
        call_id=cdr.call_id,
        tenant_id=cdr.tenant_id,
        to=cdr.to_number,
        hangup_cause=cdr.hangup_cause,
        started_at_ms=_ms(cdr.start_time),
        answered_at_ms=_ms(cdr.answer_time),
        ended_at_ms=_ms(cdr.end_time),
        disposition=reason,
        duration_s=float(cdr.duration_s),
        direction=str(cdr.direction),
        packets_sent=cdr.packets_sent or 0,
        packets_received=cdr.packets_received or 0,
        packets_lost=cdr.packets_lost or 0,
        jitter_ms=float(cdr.jitter_ms or 0.0),
        recorded=cdr.recorded,
        recording_consent=cdr.recording_consent,
        recording_requested_by=cdr.recording_requested_by,
        recording_announced_at_ms=_ms(cdr.recording_announced_at),
        recording_ids=list(cdr.recording_ids),
        recording_objection=cdr.recording_objection,
    )
    setattr(record, "from", cdr.from_number)
    return record


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class RecordsServicer(records_pb2_grpc.RecordsServicer):
    """CDR queries, always within the caller's tenant."""

    def __init__(
        self, store: CdrStore, clock: Clock | None = None, system: ActorSystem | None = None
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.system = system

    async def _own_extensions(self, who: msg_common.Principal) -> frozenset[str] | None:
        """None for an owner or admin (every CDR); a member's own extensions."""
        if who.role != api_common.ROLE_MEMBER:
            return None
        if self.system is None:
            return frozenset()
        op = msg_tenant.AdminOp(principal=who)
        op.list_extensions.CopyFrom(api_tenant.ListExtensionsRequest())
        found = await self.system.ref(tenant_address(who.tenant_id)).ask(
            op, reply=api_tenant.ListExtensionsResponse
        )
        return frozenset(e.extension for e in found.extensions if e.user_id == who.user_id)

    async def QueryCdrs(  # noqa: N802
        self, request: api_records.QueryCdrsRequest, context: grpc.aio.ServicerContext
    ) -> api_records.QueryCdrsResponse:
        """CDRs with start_ms <= start < end_ms, newest first, optionally for one number.

        No range (both 0) = the last 30 days; only end_ms = the 30 days before it."""
        end_ms = request.end_ms or int(self.clock.now() * 1000) + 1
        if not request.start_ms and request.end_ms >= 0:
            request.start_ms = max(0, end_ms - DEFAULT_RANGE_MS)
        if request.start_ms < 0 or end_ms <= request.start_ms:
            raise InvalidArgument(
                "need 0 <= start_ms < end_ms (unix milliseconds; end_ms 0 = now)",
                error_id="invalid-time-range", details={"field": "end_ms"},
            )
        if end_ms - request.start_ms > MAX_RANGE_MS or end_ms > 253402300799000:
            raise InvalidArgument(
                "the time range may span at most 366 days", error_id="invalid-time-range",
                details={"field": "start_ms"},
            )
        if request.number:
            if request.number.startswith("+"):
                validate.e164(request.number)
            else:
                validate.extension(request.number, "number")
        if request.page_size > MAX_PAGE:
            raise InvalidArgument(f"page_size must be 0 to {MAX_PAGE}", error_id="invalid-page",
                                  details={"field": "page_size"})
        if len(request.page_token) > MAX_TOKEN or not request.page_token.isprintable():
            raise InvalidArgument(
                "page_token must be the next_page_token of the previous page",
                error_id="invalid-page-token", details={"field": "page_token"},
            )
        who = caller()
        own = await self._own_extensions(who)
        page = await self.store.query(
            who.tenant_id,
            _utc(request.start_ms),
            _utc(end_ms),
            number=request.number or None,
            page_size=request.page_size or 100,
            page_token=request.page_token,
        )
        # a member's page holds only their calls (it may be shorter than page_size; go on
        # while next_page_token is set)
        return api_records.QueryCdrsResponse(
            records=[to_record(c) for c in page.records if own is None or _party(c, own)],
            next_page_token=page.next_page_token,
        )

    async def GetCdr(  # noqa: N802
        self, request: api_records.GetCdrRequest, context: grpc.aio.ServicerContext
    ) -> api_records.CdrRecord:
        """One CDR of the caller's tenant (NOT_FOUND for any other tenant's)."""
        validate.call_id(request.call_id)
        who = caller()
        cdr = await self.store.get(who.tenant_id, request.call_id)
        own = await self._own_extensions(who)
        if own is not None and not _party(cdr, own):
            raise PermissionDenied(
                "this call is not one of yours; a member reads only the CDRs of calls where one "
                "of their extensions took part (an owner or admin reads any)",
                error_id="cdr-not-yours", details={"required_roles": "owner, admin"},
            )
        return to_record(cdr)


def _party(cdr: Cdr, extensions: frozenset[str]) -> bool:
    return cdr.from_number in extensions or cdr.to_number in extensions

"""Records defaults and reach (actors/api/records.py): no range = the last 30 days; a member
reads the CDRs of their own calls only. In-memory fakes of the CDR store and the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from actors.api.records import RecordsServicer
from fabric.api.v1 import records_pb2 as api_records
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Cdr, Direction, Disposition
from fabric.edge.auth import Principal, Role, current_principal
from fabric.errors import NotFound, PermissionDenied
from fabric.storage.base import CdrPage
from fabric.testing import ManualClock

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _cdr(call_id: str, frm: str, to: str, days_ago: float) -> Cdr:
    start = NOW - timedelta(days=days_ago)
    return Cdr(call_id=call_id, tenant_id="t-1", from_number=frm, to_number=to,
               direction=Direction.INTERNAL, start_time=start, end_time=start,
               disposition=Disposition.ANSWERED, hangup_cause="normal-clearing")


class FakeStore:
    """The two reads the servicer makes; records in a list."""

    def __init__(self, cdrs: list[Cdr]) -> None:
        self.cdrs = cdrs
        self.ranges: list[tuple[datetime, datetime]] = []

    async def query(self, tenant_id: str, start: datetime, end: datetime, **_: Any) -> CdrPage:
        self.ranges.append((start, end))
        found = [c for c in self.cdrs if start <= c.start_time < end]
        return CdrPage(found, "")

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        for cdr in self.cdrs:
            if cdr.call_id == call_id:
                return cdr
        raise NotFound("no CDR", error_id="cdr-not-found")


class FakeTenant:
    """The tenant actor's answer to list_extensions: 101 is the member's, 102 someone's."""

    async def ask(self, message: Any, timeout: float | None = None, *, reply: Any) -> Any:
        return api_tenant.ListExtensionsResponse(extensions=[
            api_tenant.Extension(extension="101", user_id="u-member"),
            api_tenant.Extension(extension="102", user_id="u-other"),
        ])


class FakeSystem:
    def ref(self, address: Any) -> FakeTenant:
        return FakeTenant()


@pytest.fixture
def servicer() -> RecordsServicer:
    store = FakeStore([_cdr("a" * 32, "101", "102", 1), _cdr("b" * 32, "102", "103", 2),
                       _cdr("c" * 32, "103", "101", 40)])
    clock = ManualClock(NOW.timestamp())
    return RecordsServicer(store, clock, system=FakeSystem())  # type: ignore[arg-type]


@pytest.fixture
def as_member() -> Iterator[None]:
    token = current_principal.set(Principal(Role.MEMBER, "t-1", "u-member"))
    yield
    current_principal.reset(token)


@pytest.fixture
def as_admin() -> Iterator[None]:
    token = current_principal.set(Principal(Role.ADMIN, "t-1", "u-admin"))
    yield
    current_principal.reset(token)


async def test_no_range_means_the_last_30_days(servicer: RecordsServicer, as_admin: None) -> None:
    reply = await servicer.QueryCdrs(api_records.QueryCdrsRequest(), None)  # type: ignore[arg-type]
    assert sorted(r.call_id[0] for r in reply.records) == ["a", "b"]  # not the 40-day-old one
    start, end = servicer.store.ranges[-1]  # type: ignore[attr-defined]
    assert end - start == timedelta(days=30)


async def test_a_member_reads_only_their_own_calls(
    servicer: RecordsServicer, as_member: None
) -> None:
    reply = await servicer.QueryCdrs(api_records.QueryCdrsRequest(), None)  # type: ignore[arg-type]
    assert [r.call_id[0] for r in reply.records] == ["a"]
    mine = await servicer.GetCdr(api_records.GetCdrRequest(call_id="a" * 32), None)  # type: ignore[arg-type]
    assert mine.call_id == "a" * 32
    with pytest.raises(PermissionDenied) as denied:
        await servicer.GetCdr(api_records.GetCdrRequest(call_id="b" * 32), None)  # type: ignore[arg-type]
    assert denied.value.error_id == "cdr-not-yours"

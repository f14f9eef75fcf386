"""Checks and page tokens shared by every CDR store backend.

Paging is by position ("seek"), not by a driver's paging state: a token names the last
record returned, as (start_time, call_id), plus a fingerprint of the query. The next page
asks for records strictly after that position in the newest-first order, so a token stays
valid across requests, processes and restarts, works the same on SQLite and Cassandra, and
records written meanwhile never shift a page. A token used with other query arguments is
refused (``cdr-invalid-page-token``) instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fabric.cdr import ID_RE, is_valid_number
from fabric.errors import InvalidArgument

MAX_PAGE_SIZE = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TOKEN_MILLIS = (datetime(9999, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class CdrQuery:
    """A checked query: tenant, half-open time range, optional number, page size, position."""

    tenant_id: str
    start: datetime
    end: datetime
    number: str | None
    page_size: int
    after: tuple[datetime, str] | None  # (start_time, call_id) of the last record returned

    @property
    def fingerprint(self) -> str:
        """Short digest of the arguments a page token is bound to."""
        raw = f"{self.tenant_id}|{self.start.isoformat()}|{self.end.isoformat()}|{self.number}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def token_after(self, start_time: datetime, call_id: str) -> str:
        """The page token that continues after the record (start_time, call_id)."""
        body = {"v": 1, "q": self.fingerprint, "t": _millis(start_time), "id": call_id}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def matches_number(self, from_number: str, to_number: str) -> bool:
        """True when no number filter is set or the record touches the number."""
        return self.number is None or self.number in (from_number, to_number)

    def days_newest_first(self) -> list[date]:
        """Every UTC day the query can touch, newest first (starting at the token's day)."""
        last = self.end - timedelta(milliseconds=1)
        if self.after is not None:
            last = min(last, self.after[0])
        days = []
        day = last.date()
        while day >= self.start.date():
            days.append(day)
            day -= timedelta(days=1)
        return days


def check_tenant(tenant_id: str) -> None:
    """Refuse an empty or malformed tenant id."""
    if not isinstance(tenant_id, str) or not ID_RE.match(tenant_id):
        raise InvalidArgument(
            "tenant_id must be a non-empty id (letters, digits and '._:@-')",
            error_id="cdr-invalid-tenant",
            details={"field": "tenant_id"},
        )


def check_call_id(call_id: str) -> None:
    """Refuse an empty or malformed call id."""
    if not isinstance(call_id, str) or not ID_RE.match(call_id):
        raise InvalidArgument(
            "call_id must be a non-empty id (letters, digits and '._:@-')",
            error_id="cdr-invalid-call-id",
            details={"field": "call_id"},
        )


def build_query(
    tenant_id: str,
    start: datetime,
    end: datetime,
    number: str | None,
    page_size: int,
    page_token: str,
) -> CdrQuery:
    """Check the query arguments and decode the page token."""
    check_tenant(tenant_id)
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
            raise InvalidArgument(
                f"{name} must be a timezone-aware UTC datetime",
                error_id="cdr-invalid-range",
                details={"field": name},
            )
    if end <= start:
        raise InvalidArgument(
            "end must be after start (the range is start <= start_time < end)",
            error_id="cdr-invalid-range",
            details={"field": "end"},
        )
    if number is not None and not is_valid_number(number):
        raise InvalidArgument(
            "number must be an E.164 number ('+' then 8-15 digits) or an extension (2-8 digits)",
            error_id="cdr-invalid-number",
            details={"field": "number"},
        )
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"page_size must be between 1 and {MAX_PAGE_SIZE}",
            error_id="cdr-invalid-page-size",
            details={"field": "page_size"},
        )
    query = CdrQuery(tenant_id, start.astimezone(UTC), end.astimezone(UTC), number, page_size, None)
    if not page_token:
        return query
    return CdrQuery(
        query.tenant_id, query.start, query.end, number, page_size, _decode(page_token, query)
    )


def _decode(token: str, query: CdrQuery) -> tuple[datetime, str]:
    # a token comes from the client: every shape it can take is checked, nothing raises
    # anything but InvalidArgument (JSON that is not an object, a float or huge time, ...)
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, RecursionError) as exc:
        raise _bad_token("is not a token this store issued") from exc
    if not isinstance(body, dict) or body.get("v") != 1:
        raise _bad_token("is not a token this store issued")
    fingerprint, millis, call_id = body.get("q"), body.get("t"), body.get("id")
    if (not isinstance(fingerprint, str) or not isinstance(call_id, str)
            or not isinstance(millis, int) or isinstance(millis, bool)
            or not 0 <= millis <= MAX_TOKEN_MILLIS):
        raise _bad_token("is not a token this store issued")
    if fingerprint != query.fingerprint:
        raise _bad_token("belongs to a query with other arguments; repeat the same query")
    return EPOCH + timedelta(milliseconds=millis), call_id


def _bad_token(why: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {why}",
        error_id="cdr-invalid-page-token",
        details={"field": "page_token"},
    )


def _millis(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)

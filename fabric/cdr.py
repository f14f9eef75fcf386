"""The call detail record (CDR): exactly one per call, kept 7 years, queried by tenants.

A :class:`Cdr` is a frozen value. It is built once, when the call ends, and every store
calls :meth:`Cdr.validate` before writing anything, so a malformed record is refused with
:class:`fabric.errors.InvalidArgument` (an ``error_id`` such as ``cdr-invalid-number`` and a
message naming the field and what it expects) and nothing is written.

Choices:

- Times are timezone-aware UTC datetimes kept to the **millisecond**: that is the precision
  of Cassandra's ``timestamp`` type, so the constructor truncates finer parts and a record
  reads back equal to what was written, on every backend.
- Durations are whole seconds (``int``), as billing counts them.
- ``node_ids`` accepts any sequence and is stored as a tuple, so a CDR is hashable.
- Error messages never echo a phone number (no numbers in logs): they say which field is
  wrong and what shape it must have.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from fabric.errors import InvalidArgument

E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
EXTENSION_RE = re.compile(r"^[0-9]{2,8}$")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_NODE_IDS = 16
MAX_RECORDINGS = 16
_TIME_FIELDS = ("start_time", "end_time", "answer_time", "recording_announced_at")


class Direction(StrEnum):
    """Which way the call went, seen from the tenant."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Disposition(StrEnum):
    """How the call ended."""

    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    REJECTED = "rejected"
    FAILED = "failed"
    VOICEMAIL = "voicemail"


def _to_millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def is_valid_number(value: object) -> bool:
    """True for an E.164 number (``+`` and 8-15 digits) or an extension (2-8 digits)."""
    return isinstance(value, str) and bool(E164_RE.match(value) or EXTENSION_RE.match(value))


@dataclass(frozen=True, slots=True)
class Cdr:
    """One call detail record. Build it, then let the store validate and write it."""

    call_id: str
    tenant_id: str
    from_number: str
    to_number: str
    direction: Direction
    start_time: datetime
    end_time: datetime
    disposition: Disposition
    hangup_cause: str
    answer_time: datetime | None = None
    duration_s: int = 0
    billable_s: int = 0
    recorded: bool = False
    recording_consent: str = ""
    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0
    node_ids: Sequence[str] = field(default_factory=tuple)
    # call recording (with ``recorded`` and ``recording_consent``: 'extension-policy' or
    # 'call-request'): who asked (a user id, for 'call-request'), when the announcement
    # began, the recordings' ids, and the party that objected ('caller', 'callee' or '')
    recording_requested_by: str = ""
    recording_announced_at: datetime | None = None
    recording_ids: Sequence[str] = field(default_factory=tuple)
    recording_objection: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_ids", tuple(self.node_ids))
        object.__setattr__(self, "recording_ids", tuple(self.recording_ids))
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                object.__setattr__(self, name, _to_millis(value))
        for name, enum in (("direction", Direction), ("disposition", Disposition)):
            value = getattr(self, name)
            if isinstance(value, str) and not isinstance(value, enum):
                try:
                    object.__setattr__(self, name, enum(value))
                except ValueError:
                    pass  # validate() reports it

    # --- validation ------------------------------------------------------------------------

    def validate(self) -> Cdr:
        """Return self if the record is well formed; raise ``InvalidArgument`` otherwise."""
        self._check_ids()
        for name in ("from_number", "to_number"):
            if not is_valid_number(getattr(self, name)):
                raise _invalid(
                    "cdr-invalid-number",
                    name,
                    "an E.164 number ('+' then 8-15 digits) or an extension (2-8 digits)",
                )
        if not isinstance(self.direction, Direction):
            raise _invalid("cdr-invalid-direction", "direction", _choices(Direction))
        if not isinstance(self.disposition, Disposition):
            raise _invalid("cdr-invalid-disposition", "disposition", _choices(Disposition))
        self._check_times()
        self._check_durations()
        if not isinstance(self.hangup_cause, str) or not SLUG_RE.match(self.hangup_cause):
            raise _invalid(
                "cdr-invalid-hangup-cause",
                "hangup_cause",
                "a short slug (lowercase letters, digits, '_', '-', '.'; up to 64 chars)",
            )
        self._check_recording()
        self._check_recording_details()
        self._check_media()
        return self

    def _check_ids(self) -> None:
        for name in ("call_id", "tenant_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise _invalid("cdr-missing-id", name, "a non-empty id")
            if not ID_RE.match(value):
                raise _invalid(
                    "cdr-invalid-id",
                    name,
                    "1-128 chars of letters, digits and '._:@-', starting with a letter or digit",
                )

    def _check_times(self) -> None:
        for name in ("start_time", "end_time", "answer_time"):
            value = getattr(self, name)
            if value is None and name == "answer_time":
                continue
            if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
                raise _invalid("cdr-invalid-time", name, "a timezone-aware UTC datetime")
        if self.end_time < self.start_time:
            raise _invalid("cdr-end-before-start", "end_time", "a time at or after start_time")
        if self.answer_time is not None and not (
            self.start_time <= self.answer_time <= self.end_time
        ):
            raise _invalid(
                "cdr-invalid-time", "answer_time", "a time between start_time and end_time"
            )
        if self.disposition is Disposition.ANSWERED and self.answer_time is None:
            raise _invalid(
                "cdr-inconsistent", "answer_time", "a time when disposition is 'answered'"
            )

    def _check_durations(self) -> None:
        for name in ("duration_s", "billable_s"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise _invalid("cdr-invalid-duration", name, "a whole number of seconds >= 0")
        span = math.ceil((self.end_time - self.start_time).total_seconds())
        if self.duration_s > span:
            raise _invalid(
                "cdr-invalid-duration", "duration_s", "at most end_time - start_time, in seconds"
            )
        if self.billable_s > self.duration_s:
            raise _invalid("cdr-invalid-duration", "billable_s", "at most duration_s")
        if self.answer_time is None and self.billable_s != 0:
            raise _invalid("cdr-inconsistent", "billable_s", "0 when the call was not answered")

    def _check_recording(self) -> None:
        if not isinstance(self.recorded, bool):
            raise _invalid("cdr-invalid-recording", "recorded", "a boolean")
        consent = self.recording_consent
        if not isinstance(consent, str):
            raise _invalid("cdr-invalid-recording", "recording_consent", "a string")
        if not self.recorded and consent:
            raise _invalid(
                "cdr-invalid-recording", "recording_consent", "'' when the call was not recorded"
            )
        if self.recorded and not SLUG_RE.match(consent):
            raise _invalid(
                "cdr-invalid-recording",
                "recording_consent",
                "the consent source as a short slug (e.g. 'announcement') when recorded",
            )

    def _check_recording_details(self) -> None:
        ids, by = self.recording_ids, self.recording_requested_by
        when, objection = self.recording_announced_at, self.recording_objection
        if not self.recorded:
            if ids or by or when is not None or objection:
                raise _invalid(
                    "cdr-invalid-recording",
                    "recording_ids" if ids else "recording_requested_by" if by else
                    "recording_announced_at" if when is not None else "recording_objection",
                    "empty when the call was not recorded",
                )
            return
        if len(ids) > MAX_RECORDINGS or not all(
            isinstance(i, str) and ID_RE.match(i) for i in ids
        ):
            raise _invalid(
                "cdr-invalid-recording", "recording_ids", f"at most {MAX_RECORDINGS} recording ids"
            )
        if not isinstance(by, str) or (by and not ID_RE.match(by)):
            raise _invalid("cdr-invalid-recording", "recording_requested_by", "'' or a user id")
        if objection not in ("", "caller", "callee"):
            raise _invalid(
                "cdr-invalid-recording", "recording_objection", "'', 'caller' or 'callee'"
            )
        if when is not None and not (
            isinstance(when, datetime)
            and when.utcoffset() == timedelta(0)
            and self.start_time <= when <= self.end_time
        ):
            raise _invalid(
                "cdr-invalid-recording",
                "recording_announced_at",
                "a UTC time between start_time and end_time",
            )

    def _check_media(self) -> None:
        for name in ("packets_sent", "packets_received", "packets_lost"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise _invalid("cdr-invalid-media-stats", name, "a whole number >= 0")
        jitter = self.jitter_ms
        if (
            isinstance(jitter, bool)
            or not isinstance(jitter, int | float)
            or not (math.isfinite(jitter) and jitter >= 0)
        ):
            raise _invalid("cdr-invalid-media-stats", "jitter_ms", "a finite number >= 0")
        ids = self.node_ids
        if len(ids) > MAX_NODE_IDS or not all(isinstance(n, str) and ID_RE.match(n) for n in ids):
            raise _invalid(
                "cdr-invalid-node-ids", "node_ids", f"up to {MAX_NODE_IDS} non-empty node ids"
            )

    # --- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601 strings), for the spool and the embedded store."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cdr:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        for name in _TIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(enum: type[StrEnum]) -> str:
    return "one of " + ", ".join(repr(m.value) for m in enum)


def _invalid(error_id: str, field_name: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"CDR field '{field_name}' must be {expected}",
        error_id=error_id,
        details={"field": field_name},
    )


def utc_now() -> datetime:
    """The current time as an aware UTC datetime, to the millisecond."""
    return _to_millis(datetime.now(UTC))

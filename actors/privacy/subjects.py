"""Data subjects: a user of the tenant (by user id) or an outside phone number (E.164).

A subject's data is found by the values that name them: a user by their user id and their
extensions (CDRs and content metadata name extensions), a number by itself. Content objects
say whose they are in their sealed metadata: the ``subjects`` key (comma-separated user ids
and numbers) when the writer set it, else any metadata value that names the subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import InvalidArgument, NotFound

E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
USER_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def check(subject: str, field: str = "subject") -> str:
    """A well-formed subject (user id or E.164 number); ``invalid-subject`` otherwise."""
    if not (E164_RE.fullmatch(subject) or USER_ID_RE.fullmatch(subject)):
        raise InvalidArgument(
            f"{field} must be a user id of your tenant (`fabric user list`) or an outside "
            "number in E.164 form, e.g. +15550100123",
            error_id="invalid-subject",
            details={"field": field},
        )
    return subject


def is_number(subject: str) -> bool:
    """True for an outside phone number, False for a user id."""
    return subject.startswith("+")


def absent() -> NotFound:
    """The error for a subject the tenant has no data about (another tenant's included)."""
    return NotFound(
        "your tenant has no data about this subject (users: `fabric user list`; a number must "
        "appear in your CDRs, messages, voicemail or recordings)",
        error_id="subject-not-found",
    )


@dataclass(frozen=True, slots=True)
class Subject:
    """A resolved subject: who, and the values that name them in records and metadata."""

    subject: str
    user: api_tenant.User | None
    extensions: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        """Values naming this subject: the number, or the user id and its extensions."""
        return frozenset((self.subject, *self.extensions))

    @property
    def cdr_numbers(self) -> tuple[str, ...]:
        """The numbers to look up in CDRs (a user's extensions, or the number)."""
        return self.extensions if self.user is not None else (self.subject,)

    def owns(self, metadata: dict[str, str]) -> bool:
        """Whether a content object's metadata names this subject."""
        listed = metadata.get("subjects")
        if listed is not None:
            return not self.names.isdisjoint(s.strip() for s in listed.split(","))
        return any(v in self.names for k, v in metadata.items() if k != "parent")


def resolve(subject: str, config: api_tenant.TenantConfig) -> Subject:
    """The subject in this tenant's configuration (a number resolves without a user)."""
    check(subject)
    if is_number(subject):
        return Subject(subject, None, ())
    for user in config.users:
        if user.user_id == subject:
            exts = tuple(sorted(e.extension for e in config.extensions if e.user_id == subject))
            return Subject(subject, user, exts)
    raise absent()

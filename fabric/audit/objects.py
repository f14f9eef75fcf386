"""What an RPC touches: its action, object class and object id, derived from the request.

No service has to do anything to be audited. By default, for ``/pkg.Service/VerbNoun``:

- action: ``read`` for Get/List/Query/Describe/Verify, ``delete`` for Delete/Revoke/Release/
  Close, ``export`` for Export/Download, ``change`` for anything else; a carrier method
  (CarrierAdmin, Operators, Compliance documents) counts as ``admin`` too;
- object class: the noun in snake case (``GetCdr`` -> ``cdr``, ``ListApiKeys`` -> ``api_keys``);
- object id: the first of the request's fields named in :data:`ID_FIELDS` that is set
  (ids only: never a phone number, name or message text);
- the tenant whose log gets the entry: the caller's tenant; for carrier staff, the request's
  ``tenant_id`` (and the carrier's log always gets one too).

A method can say otherwise with :func:`declare` (e.g. ``declare("/fabric.api.v1.X/Y",
object_class="voicemail", id_field="message_id")``) at import time of its servicer module.
Call signalling (:data:`NOT_AUDITED`) is not audited: every call leaves a CDR saying who
called whom, and an entry per Dial/Answer/Hangup would double the hot path's writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

READ_VERBS = ("Get", "List", "Query", "Describe", "Verify", "Check")
DELETE_VERBS = ("Delete", "Revoke", "Release", "Close", "Purge", "Erase")
EXPORT_VERBS = ("Export", "Download", "Stream")
ID_FIELDS = ("call_id", "message_id", "recording_id", "conversation_id", "object_id",
             "user_id", "key_id", "extension_id", "group_id", "operator_id", "request_id",
             "job_id", "id", "tenant_id")
ADMIN_SERVICES = ("CarrierAdmin", "Operators", "Compliance")
NOT_AUDITED = frozenset(f"/fabric.api.v1.Calls/{m}" for m in (
    "Register", "Dial", "Answer", "Reject", "Hangup", "Hold", "Resume", "Transfer"))


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """How a method names what it touches."""

    action: str
    object_class: str
    id_field: str = ""  # '' = the first set field of ID_FIELDS


_DECLARED: dict[str, ObjectSpec] = {}


def declare(method: str, *, object_class: str, id_field: str = "", action: str = "") -> None:
    """Override the default object class / id field / action of ``method``."""
    default = spec_of(method)
    _DECLARED[method] = ObjectSpec(action or default.action, object_class, id_field)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def spec_of(method: str) -> ObjectSpec:
    """The declared spec of ``method`` or its default."""
    if method in _DECLARED:
        return _DECLARED[method]
    service, _, name = method.rpartition("/")
    verb = re.match(r"[A-Z][a-z]*", name)
    word = verb.group(0) if verb else name
    noun = _snake(name[len(word):]) or _snake(name)
    if word in READ_VERBS:
        action = "read"
    elif word in DELETE_VERBS:
        action = "delete"
    elif word in EXPORT_VERBS:
        action = "export"
    else:
        action = "change"
    if service.rpartition(".")[2] in ADMIN_SERVICES and action == "change":
        action = "admin"
    return ObjectSpec(action, noun)


def object_id(request: Any, spec: ObjectSpec) -> str:
    """The id of the object the request names ('' when none)."""
    names = (spec.id_field,) if spec.id_field else ID_FIELDS
    for name in names:
        value = _field(request, name)
        if value:
            return value[:128]
    return ""


def target_tenant(request: Any) -> str:
    """The ``tenant_id`` the request names ('' when none)."""
    return _field(request, "tenant_id")


def _field(request: Any, name: str) -> str:
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None or name not in descriptor.fields_by_name:
        return ""
    value = getattr(request, name)
    return value if isinstance(value, str) else ""

"""Resolve "module:attr" strings, so that ``fabric`` never imports ``actors`` by name.

Actor types and service factories are named by strings in the system's configuration and
imported inside each host process.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from fabric.actor import ENDPOINT_KIND, VirtualActor
from fabric.errors import InvalidArgument


def load_symbol(spec: str) -> Any:
    """Import ``module:attr`` (attr may be dotted); ``InvalidArgument`` naming the spec."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgument(
            f"{spec!r} is not a 'module:attr' reference", error_id="runtime-bad-symbol"
        )
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(
            f"cannot import {spec!r}: {exc}", error_id="runtime-bad-symbol"
        ) from exc
    return obj


def actor_type_table(
    types: Iterable[type[VirtualActor] | str],
) -> dict[str, type[VirtualActor]]:
    """Map each actor type's ``kind`` to the type; refuse duplicates and reserved kinds."""
    table: dict[str, type[VirtualActor]] = {}
    for spec in types:
        cls = load_symbol(spec) if isinstance(spec, str) else spec
        if not (isinstance(cls, type) and issubclass(cls, VirtualActor)):
            raise InvalidArgument(
                f"{spec!r} is not a VirtualActor subclass", error_id="runtime-bad-actor-type"
            )
        kind = getattr(cls, "kind", "")
        if not isinstance(kind, str) or not kind or kind == ENDPOINT_KIND:
            raise InvalidArgument(
                f"{cls.__name__}.kind must be a non-empty string other than {ENDPOINT_KIND!r}",
                error_id="runtime-bad-actor-kind",
            )
        if kind in table and table[kind] is not cls:
            raise InvalidArgument(
                f"kind {kind!r} is claimed by both {table[kind].__name__} and {cls.__name__}",
                error_id="runtime-duplicate-kind",
            )
        table[kind] = cls
    return table

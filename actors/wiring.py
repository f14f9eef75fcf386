"""Service factories: what each host process gives its actors through ``ctx.service``.

``make_services(settings)`` runs once per host process (the runtime imports it by its
"module:attr" name). It makes the CDR store (Cassandra or the embedded store, per
``storage.backend``) and the call metrics. Media is optional: when no ``CallMedia``
service is registered, CallActors run signalling-only (see ``actors.call_media``).
"""

from __future__ import annotations

import importlib
from typing import Any

from actors.call_metrics import CallMetrics
from fabric.config import FabricSettings
from fabric.storage.base import CdrStore


def make_cdr_store(settings: FabricSettings) -> CdrStore:
    """The CDR store for ``settings.storage`` (from ``fabric.storage.factory``)."""
    factory: Any = importlib.import_module("fabric.storage.factory")
    for name in ("make_cdr_store", "cdr_store", "create_cdr_store", "open_cdr_store"):
        fn = getattr(factory, name, None)
        if fn is not None:
            store: CdrStore = fn(settings)
            return store
    raise RuntimeError("fabric.storage.factory has no CDR store factory")


def make_services(settings: FabricSettings) -> dict[type, object]:
    """Services of one host process: CDR store and call metrics."""
    return {CdrStore: make_cdr_store(settings), CallMetrics: CallMetrics()}

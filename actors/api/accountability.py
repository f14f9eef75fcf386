"""The accountability part of a gateway: operators, the audit log, compliance records and
the billing staff's CDR metadata.

:func:`accountability` makes, from the process's stores, what ``start_api`` plugs in: the
operator directory (for the key verifier), the audit recorder (for the edge interceptor)
and the registrars of the Audit, Operators, Compliance and Billing services.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from actors.api.audit import AuditServicer
from actors.api.billing import BillingServicer
from actors.api.operators import OperatorDirectory, OperatorsServicer
from actors.compliance.api import ComplianceServicer
from actors.compliance.records import ComplianceRecords
from fabric.actor import ActorSystem
from fabric.api.v1 import audit_pb2, audit_pb2_grpc
from fabric.audit.chain import AuditWriter
from fabric.audit.recorder import AuditRecorder
from fabric.audit.store import AuditStore, MemoryAuditStore
from fabric.storage.factory import Stores
from fabric.storage.memory import MemoryStateStore

log = logging.getLogger(__name__)

SERVICE_NAMES = [audit_pb2.DESCRIPTOR.services_by_name[name].full_name
                 for name in ("Audit", "Operators", "Compliance", "Billing")]


@dataclass(slots=True)
class Accountability:
    """What one gateway process needs for accountability."""

    operators: OperatorDirectory
    recorder: AuditRecorder
    store: AuditStore
    registrars: list[Callable[[grpc.aio.Server], None]]


def accountability(system: ActorSystem, stores: Stores) -> Accountability:
    """Operators, audit and compliance over the process's stores."""
    store = getattr(stores, "audit", None)
    if store is None:  # stores made by hand (tests): an audit log that lives in memory
        log.warning("no audit store in this process's stores: audit entries kept in memory")
        store = MemoryAuditStore()
    state = getattr(stores, "state", None) or MemoryStateStore()
    operators = OperatorDirectory(state)
    records = ComplianceRecords(state)
    audit_store = store
    return Accountability(
        operators=operators,
        recorder=AuditRecorder(AuditWriter(store)),
        store=store,
        registrars=[
            lambda s: audit_pb2_grpc.add_AuditServicer_to_server(AuditServicer(audit_store), s),
            lambda s: audit_pb2_grpc.add_OperatorsServicer_to_server(
                OperatorsServicer(operators), s),
            lambda s: audit_pb2_grpc.add_ComplianceServicer_to_server(
                ComplianceServicer(system, records), s),
            lambda s: audit_pb2_grpc.add_BillingServicer_to_server(
                BillingServicer(stores.cdr), s),
        ],
    )

"""Prometheus metrics of the CDR write path.

Labels carry only the outcome, never a tenant, number or call id (those are unbounded and
personal). Registered once per process on the default registry, and on a registry of their
own that :func:`cdr_metrics_text` renders for the merged ``/metrics`` of every backend (the
spool's series stay 0 on the embedded store, which has no spool).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fabric.metrics_text import exposition

CDR_WRITES = Counter(
    "fabric_cdr_writes",
    "CDR writes by outcome: written (stored), spooled (store down, kept in the local spool), "
    "failed (refused as invalid, or neither stored nor spooled)",
    ["outcome"],
)
CDR_WRITE_LATENCY = Histogram(
    "fabric_cdr_write_latency_seconds",
    "Time to accept one CDR (stored or spooled)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CDR_SPOOL_DEPTH = Gauge("fabric_cdr_spool_depth", "CDRs waiting in the local spool")
CDR_SPOOL_DELIVERED = Counter(
    "fabric_cdr_spool_delivered", "CDRs delivered from the spool to the store"
)

# Bound children: the write path increments these without a label lookup.
CDR_WRITTEN = CDR_WRITES.labels(outcome="written")
CDR_SPOOLED = CDR_WRITES.labels(outcome="spooled")
CDR_FAILED = CDR_WRITES.labels(outcome="failed")

_CDR_REGISTRY = CollectorRegistry()
for _metric in (CDR_WRITES, CDR_WRITE_LATENCY, CDR_SPOOL_DEPTH, CDR_SPOOL_DELIVERED):
    _CDR_REGISTRY.register(_metric)


def cdr_metrics_text() -> str:
    """This process's CDR write and spool metrics as a Prometheus text exposition."""
    return exposition(_CDR_REGISTRY)

"""One Prometheus text exposition for every fabric process, without ``_created`` series.

prometheus_client adds a ``<name>_created`` timestamp to every counter and histogram; the
text format writes it as a separate gauge family (``fabric_cdr_writes_created``), which the
merged ``/metrics`` (``actors.metrics_export``) would sum across processes into a
meaningless number. Importing this module turns those series off for the whole process
(prometheus_client's switch is process-wide): every module that defines fabric metrics
renders them with :func:`exposition`, so each process that exports them imports it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest

disable_created_metrics()


def exposition(registry: CollectorRegistry) -> str:
    """The registry's Prometheus text exposition (format 0.0.4), no ``_created`` series."""
    return generate_latest(registry).decode()

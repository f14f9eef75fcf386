"""One Prometheus text exposition for every fabric process, without ``_created`` series.

prometheus_client adds a ``<name>_created`` timestamp to every counter and histogram; the
text format writes it as a separate gauge family (``fabric_cdr_writes_created``), which the
merged ``/metrics`` (``actors.metrics_export``) would sum across processes into a
meaningless number. Importing this module turns those series off for the whole process
(prometheus_client's switch is process-wide): every module that defines fabric metrics
renders them with :func:`exposition`, so each process that exports them imports it.

Module-level metrics (CDR writes, the vault) live on prometheus_client's default registry,
beside its process and platform collectors: :func:`default_registry_text` renders only the
``fabric_`` families of it, for the merged ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

disable_created_metrics()


def exposition(registry: CollectorRegistry) -> str:
    """The registry's Prometheus text exposition (format 0.0.4), no ``_created`` series."""
    return generate_latest(registry).decode()


class _FabricFamilies(Collector):
    """The ``fabric_`` families of the default registry, collected when asked."""

    def collect(self) -> Iterator[Metric]:
        """Each family of the default registry whose name starts with ``fabric_``."""
        return (family for family in REGISTRY.collect() if family.name.startswith("fabric_"))


_DEFAULT_FABRIC = CollectorRegistry(auto_describe=False)
_DEFAULT_FABRIC.register(_FabricFamilies())


def default_registry_text() -> str:
    """This process's module-level fabric metrics (default registry, ``fabric_`` only)."""
    return exposition(_DEFAULT_FABRIC)

"""Per-host Prometheus metrics of the actor runtime.

Each host owns a private ``CollectorRegistry`` (several hosts, or several test systems, can
live in one process without clashing). Labels carry the host id only, never an actor key:
keys can be phone numbers or call ids, and one label value per key would explode the
series count. The Ray system gathers every host's text exposition through one Ray call
per host (``RayActorSystem.metrics_text``); a process can also serve its own registry with
``prometheus_client.start_http_server(port, registry=metrics.registry)``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fabric.metrics_text import exposition

_LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class HostMetrics:
    """The runtime's counters for one host, already bound to its ``host`` label."""

    def __init__(self, host_id: str) -> None:
        self.registry = CollectorRegistry()
        labels = ["host"]
        self._activations = Counter(
            "fabric_actor_activations", "Virtual actor activations", labels,
            registry=self.registry,
        )
        self._passivations = Counter(
            "fabric_actor_passivations", "Virtual actor deactivations (any reason)", labels,
            registry=self.registry,
        )
        self._handled = Counter(
            "fabric_actor_messages_handled", "Messages handled by virtual actors", labels,
            registry=self.registry,
        )
        self._failed = Counter(
            "fabric_actor_handler_failures", "Handlers that raised", labels,
            registry=self.registry,
        )
        self._rejected = Counter(
            "fabric_actor_messages_rejected",
            "Messages refused (full mailbox, unknown kind, malformed, expired)", labels,
            registry=self.registry,
        )
        self._depth = Gauge(
            "fabric_actor_mailbox_depth", "Messages queued in all mailboxes of the host",
            labels, registry=self.registry,
        )
        self._resident = Gauge(
            "fabric_actor_resident", "Activations resident on the host", labels,
            registry=self.registry,
        )
        self._latency = Histogram(
            "fabric_actor_handler_seconds", "Handler latency", labels,
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.activations = self._activations.labels(host=host_id)
        self.passivations = self._passivations.labels(host=host_id)
        self.handled = self._handled.labels(host=host_id)
        self.failed = self._failed.labels(host=host_id)
        self.rejected = self._rejected.labels(host=host_id)
        self.mailbox_depth = self._depth.labels(host=host_id)
        self.resident = self._resident.labels(host=host_id)
        self.handler_seconds = self._latency.labels(host=host_id)

    def text(self) -> str:
        """The Prometheus text exposition of this host's registry."""
        return exposition(self.registry)

"""Call metrics: calls started, answered, failed by reason, active calls, setup latencies.

Labels are bounded enums (end reason, failure error id), never a number, a name or a
tenant. Each host process makes one :class:`CallMetrics` (a host service) on its own
``CollectorRegistry``, exported next to the runtime's metrics of that host.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fabric.metrics_text import exposition

_SETUP_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


class CallMetrics:
    """Counters, gauge and histograms of the call state machine on one host."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.started = Counter("fabric_calls_started", "Calls that began ringing", registry=r)
        self.answered = Counter("fabric_calls_answered", "Calls answered", registry=r)
        self.ended = Counter(
            "fabric_calls_ended", "Calls ended, by disposition", ["reason"], registry=r
        )
        self.failed = Counter(
            "fabric_calls_failed",
            "Dials refused or calls ended by an error, by error id",
            ["reason"],
            registry=r,
        )
        self.active = Gauge("fabric_calls_active", "Calls not yet ended on this host", registry=r)
        self.dial_to_ringing = Histogram(
            "fabric_call_dial_to_ringing_seconds",
            "From the dial reaching the call actor to the call ringing",
            buckets=_SETUP_BUCKETS,
            registry=r,
        )
        self.dial_to_answered = Histogram(
            "fabric_call_dial_to_answered_seconds",
            "From the dial to the answer",
            buckets=_SETUP_BUCKETS,
            registry=r,
        )

    def text(self) -> str:
        """The Prometheus text exposition."""
        return exposition(self.registry)

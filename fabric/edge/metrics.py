"""gRPC request metrics: requests by method and status code, and their latency.

The method label is the RPC's full name (a fixed set, from the protos); no peer address,
tenant or number is ever a label. The TLS certificate's expiry is a gauge per gateway node.
"""

from __future__ import annotations

import socket

from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fabric.metrics_text import exposition

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class EdgeMetrics:
    """Per-process gRPC request counters and latency histograms."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "fabric_grpc_requests",
            "gRPC requests handled, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fabric_grpc_request_seconds",
            "gRPC handling time (unary) or stream lifetime",
            ["method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "fabric_limit_refusals",
            "Requests refused over a limit (RESOURCE_EXHAUSTED) or streams ended because "
            "their credentials stopped being valid, by reason (the error id)",
            ["reason"],
            registry=self.registry,
        )

        self.certificate_expiry = Gauge(
            "fabric_tls_certificate_expiry_timestamp_seconds",
            "When the API's TLS server certificate expires (Unix time), by gateway pod",
            ["node"],
            registry=self.registry,
        )

    def observe_certificate(self, pem: bytes) -> None:
        """Record the expiry of the server certificate this gateway serves.

        Labelled by the host name (a pod or machine name, never personal), so the merged
        /metrics keeps one series per gateway node instead of adding timestamps up.
        """
        cert = x509.load_pem_x509_certificate(pem)
        expiry = cert.not_valid_after_utc.timestamp()
        self.certificate_expiry.labels(node=socket.gethostname()).set(expiry)

    def observe(self, method: str, code: str, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(method=method, code=code).inc()
        self.latency.labels(method=method).observe(seconds)

    def refused(self, reason: str) -> None:
        """Count one refusal; ``reason`` is an error id (a fixed set of slugs)."""
        self.refusals.labels(reason=reason).inc()

    def text(self) -> str:
        """The Prometheus text exposition."""
        return exposition(self.registry)

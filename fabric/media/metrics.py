"""Prometheus export of a relay's aggregated counters (no per-call labels).

The packet path only bumps plain ints on its legs; a Prometheus ``Counter`` per packet
would take a lock per packet. Instead a custom collector sums the counters when scraped
(:meth:`fabric.media.engine.RelayEngine.totals`), so the cost is per scrape, not per packet.
The only label is the drop ``reason`` (a fixed, small set) and the ``relay`` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from fabric.media.engine import RelayEngine


class RelayMetricsCollector(Collector):
    """Reads a relay engine's totals at scrape time."""

    def __init__(self, engine: RelayEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        """Yield the relay's metric families."""
        relay = str(self._engine.config.relay_index)
        try:
            totals = self._engine.totals()
        except RuntimeError:  # a dict changed under us on the media thread; retry once
            totals = self._engine.totals()
        counts = self._engine.counts()

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["relay"])
            family.add_metric([relay], value)
            return family

        yield counter(
            "fabric_media_packets_received",
            "Authenticated RTP packets from clients",
            totals.packets_in,
        )
        yield counter(
            "fabric_media_packets_forwarded",
            "RTP packets re-encrypted and sent to clients",
            totals.packets_out,
        )
        yield counter("fabric_media_bytes_forwarded", "RTP bytes sent to clients", totals.bytes_out)
        yield counter(
            "fabric_media_rtcp_forwarded", "RTCP packets sent to clients", totals.rtcp_out
        )
        yield counter(
            "fabric_media_packets_lost",
            "RTP packets lost on the way in (RFC 3550)",
            totals.packets_lost,
        )
        yield counter(
            "fabric_media_timeouts", "Sessions ended by a silent leg", counts["timeouts_total"]
        )
        yield counter("fabric_media_sessions", "Relay sessions allocated", counts["sessions_total"])
        drops = CounterMetricFamily(
            "fabric_media_packets_dropped", "Packets dropped, by reason", labels=["relay", "reason"]
        )
        for reason, value in totals.drops().items():
            drops.add_metric([relay, reason], value)
        yield drops
        for name, doc, key in (
            ("fabric_media_sessions_active", "Live relay sessions", "sessions"),
            ("fabric_media_legs_active", "Live legs", "legs"),
            ("fabric_media_ports_in_use", "UDP ports held by legs", "ports_in_use"),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=["relay"])
            gauge.add_metric([relay], counts[key])
            yield gauge


def register_relay_metrics(
    engine: RelayEngine, registry: CollectorRegistry = REGISTRY
) -> RelayMetricsCollector:
    """Register the collector of ``engine`` (once per relay process)."""
    collector = RelayMetricsCollector(engine)
    registry.register(collector)
    return collector

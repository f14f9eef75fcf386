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

from fabric.media.srtp_aescm import LIBSRTP, OPENSSL

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
        yield counter(
            "fabric_media_sessions_to_python_path",
            "Sessions handed from the compiled data plane to the Python path (fork, play/record,"
            " WebRTC)",
            counts["sessions_handed_over"],
        )
        path = GaugeMetricFamily(
            "fabric_media_dataplane_info",
            "Which data plane serves new SDES legs (1 on the running one)",
            labels=["relay", "path"],
        )
        for name in ("compiled", "python"):
            path.add_metric([relay, name], 1.0 if self._engine.dataplane == name else 0.0)
        yield path
        transform = GaugeMetricFamily(
            "fabric_media_srtp_transform_info",
            "Which SRTP transform protects RTP of new compiled AES_CM_128_HMAC_SHA1_80 legs"
            " (1 on the running one)",
            labels=["relay", "transform"],
        )
        running = self._engine.srtp_transform
        for name in (OPENSSL, LIBSRTP):
            transform.add_metric([relay, name], 1.0 if running == name else 0.0)
        yield transform
        drops = CounterMetricFamily(
            "fabric_media_packets_dropped", "Packets dropped, by reason", labels=["relay", "reason"]
        )
        for reason, value in totals.drops().items():
            drops.add_metric([relay, reason], value)
        yield drops
        yield from _feature_metrics(self._engine, relay)
        for name, doc, key in (
            ("fabric_media_sessions_active", "Live relay sessions", "sessions"),
            ("fabric_media_legs_active", "Live legs", "legs"),
            ("fabric_media_ports_in_use", "UDP ports held by legs", "ports_in_use"),
        ):
            gauge = GaugeMetricFamily(name, doc, labels=["relay"])
            gauge.add_metric([relay], counts[key])
            yield gauge


def _feature_metrics(engine: RelayEngine, relay: str) -> Iterator[Metric]:
    """Play/record legs, recording forks and key presses (``fabric.media.features``); the
    only labels are the relay, the data class (voicemail, recording) and the end reason."""
    features = engine.features
    c = features.counters
    active = features.active()
    recordings = GaugeMetricFamily(
        "fabric_media_recordings_active", "Recordings being written now, by data class",
        labels=["relay", "data_class"],
    )
    started = CounterMetricFamily(
        "fabric_media_recordings_started",
        "Recordings started (call recordings when the fork starts, voicemail when sealed)",
        labels=["relay", "data_class"],
    )
    sealed = CounterMetricFamily(
        "fabric_media_recording_bytes", "PCM bytes of finished recordings, by data class",
        labels=["relay", "data_class"],
    )
    for data_class in ("voicemail", "recording"):
        recordings.add_metric([relay, data_class], active.get(f"recording:{data_class}", 0))
        started.add_metric([relay, data_class], c.recordings_started.get(data_class, 0))
        sealed.add_metric([relay, data_class], c.recording_bytes.get(data_class, 0))
    yield recordings
    yield started
    yield sealed
    ended = CounterMetricFamily(
        "fabric_media_playrec_ended", "Play/record legs ended, by reason",
        labels=["relay", "reason"],
    )
    for reason, value in sorted(c.playrec_ended.items()):
        ended.add_metric([relay, reason], value)
    yield ended
    def counter(name: str, doc: str, value: float) -> Metric:
        family = CounterMetricFamily(name, doc, labels=["relay"])
        family.add_metric([relay], value)
        return family

    yield counter("fabric_media_playrec_sessions", "Play/record legs started", c.playrec_started)
    yield counter("fabric_media_dtmf_events", "Key presses reported (RFC 4733)", c.dtmf_events)
    yield counter(
        "fabric_media_fork_drops",
        "Frames recording forks lost because the recorder fell behind (forwarding unaffected)",
        c.fork_drops,
    )
    yield counter(
        "fabric_media_events_dropped", "Feature events dropped, never drained", c.events_dropped
    )
    gauge = GaugeMetricFamily("fabric_media_playrec_active", "Live play/record legs",
                              labels=["relay"])
    gauge.add_metric([relay], active["playrec"])
    yield gauge


def register_relay_metrics(
    engine: RelayEngine, registry: CollectorRegistry = REGISTRY
) -> RelayMetricsCollector:
    """Register the collector of ``engine`` (once per relay process)."""
    collector = RelayMetricsCollector(engine)
    registry.register(collector)
    return collector

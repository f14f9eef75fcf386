"""The privacy request metrics: open requests and the age of the oldest, fabric-wide.

Gathered once per scrape by the driver (:func:`actors.metrics_export.gather_texts`) from the
one :class:`~actors.privacy.index.PrivacyIndex`, so the merge never adds two copies. No
labels: nothing about a tenant or a subject leaves in a metric.
"""

from __future__ import annotations

from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.privacy.index import INDEX
from fabric.actor import ActorSystem

_TEXT = (
    "# HELP fabric_privacy_requests_open Privacy requests received and not answered yet\n"
    "# TYPE fabric_privacy_requests_open gauge\n"
    "fabric_privacy_requests_open {open}\n"
    "# HELP fabric_privacy_request_oldest_open_seconds Age of the oldest open privacy request "
    "(the policy answers within 30 days); 0 when none is open\n"
    "# TYPE fabric_privacy_request_oldest_open_seconds gauge\n"
    "fabric_privacy_request_oldest_open_seconds {oldest}\n"
)


def stats_text(stats: msg_privacy.PrivacyStats, now: float) -> str:
    """The two gauges (Prometheus text) for ``stats`` at ``now`` (unix seconds)."""
    oldest = 0.0
    if stats.open and stats.oldest_received_at_ms:
        oldest = max(0.0, now - stats.oldest_received_at_ms / 1000)
    return _TEXT.format(open=float(stats.open), oldest=oldest)


async def privacy_metrics_text(system: ActorSystem, now: float) -> str:
    """Ask the index and format its gauges."""
    stats = await system.ref(INDEX).ask(
        msg_privacy.GetPrivacyStats(), reply=msg_privacy.PrivacyStats
    )
    return stats_text(stats, now)

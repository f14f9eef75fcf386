"""One Prometheus scrape for the whole fabric.

Metrics live in many processes: the runtime's per-host registries, each actor host's
:class:`~actors.call_metrics.CallMetrics` and each gateway's gRPC request metrics. The
driver (``cluster/up.py``) gathers their text expositions every few seconds
(:func:`host_metrics_text` runs inside each host through ``RayActorSystem.run_on_host``)
and :class:`MergedMetrics` sums samples with the same name and labels across processes,
so ``fabric_calls_active`` is the fabric's total and counters add up. The media relays'
expositions (:meth:`fabric.media.relay_actor.MediaControl.metrics_text`, series told apart by their
``relay`` label) and the transcription pool's are gathered once, by the driver, in
:func:`gather_texts`: gathering them in every host would count each relay once per host.
Labels never carry numbers, names or tenants (see the metric definitions), so merging
cannot leak them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

import fabric.storage.metrics  # noqa: F401  (every host exports the CDR series, 0 if idle)
from actors.call_metrics import CallMetrics
from actors.privacy.metrics import privacy_metrics_text
from fabric.metrics_text import default_registry_text

_HOST_UP = (
    "# HELP fabric_hosts_up Host processes that answered the last metrics gather, by role\n"
    "# TYPE fabric_hosts_up gauge\n"
    'fabric_hosts_up{{role="{role}"}} 1.0\n'
)


async def host_metrics_text(runtime: Any) -> str:
    """Inside a host: its module-level metrics (CDR writes and spool, vault), call metrics
    (actor hosts), gRPC metrics (gateways) and ``fabric_hosts_up{role}`` (1; the merge sums
    them into a count of live hosts). One host per Ray process, so process-wide counters
    count once."""
    from actors.api.server import RUNNING

    parts: list[str] = [default_registry_text()]  # module-level: CDR writes, vault
    host = getattr(runtime, "host", None)
    parts.append(_HOST_UP.format(role="actor" if host is not None else "gateway"))
    if host is not None:
        metrics = host.services.get(CallMetrics)
        if isinstance(metrics, CallMetrics):
            parts.append(metrics.text())
    parts.extend(gateway.metrics_text() for gateway in RUNNING)
    return "".join(parts)


async def gather_texts(system: Any, media: Any = None) -> list[str]:
    """Driver side: the expositions of the runtime, every host and (if given, a
    ``MediaControl``) every media relay; a host or relay that does not answer is skipped."""
    texts = [await system.metrics_text()]
    for host_id in list(system.hosts):
        with contextlib.suppress(Exception):
            texts.append(
                await system.run_on_host(host_id, "actors.metrics_export:host_metrics_text")
            )
    if media is not None:
        with contextlib.suppress(Exception):
            texts.append(await media.metrics_text())
    with contextlib.suppress(Exception):  # once, from the one index of open requests
        texts.append(await privacy_metrics_text(system, time.time()))
    with contextlib.suppress(Exception):  # the transcription pool, once (it is one actor)
        from actors.transcription.pool import pool_metrics_text

        texts.append(await pool_metrics_text())
    return texts


def merge(texts: Iterable[str]) -> list[Metric]:
    """Sum samples of equal name and labels across expositions (``_created`` dropped)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            samples = values[family.name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    out = []
    for name, metric in families.items():
        for (sample_name, labels), value in values[name].items():
            metric.add_sample(sample_name, dict(labels), value)
        out.append(metric)
    return out


class MergedMetrics(Collector):
    """A collector serving the last merged snapshot."""

    def __init__(self) -> None:
        self._families: list[Metric] = []

    def update(self, texts: Iterable[str]) -> None:
        """Replace the snapshot."""
        self._families = merge(texts)

    def collect(self) -> Iterator[Metric]:
        """The snapshot's families."""
        return iter(self._families)

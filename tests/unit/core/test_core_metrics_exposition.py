"""The merged /metrics: no ``_created`` families, CDR metrics from every host process."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from actors.metrics_export import host_metrics_text, merge
from fabric.errors import InvalidArgument
from fabric.metrics_text import exposition
from fabric.storage.metered import MeteredCdrStore
from fabric.storage.metrics import cdr_metrics_text
from tests.unit.storage.test_storage_spool_unit import FakeCdrStore


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


def test_counters_and_histograms_carry_no_created_series() -> None:
    registry = CollectorRegistry()
    Counter("probe_events", "probe", registry=registry).inc()
    Histogram("probe_seconds", "probe", registry=registry).observe(0.1)
    text = exposition(registry)
    assert "probe_events_total 1.0" in text
    assert "_created" not in text


async def test_host_exposition_has_module_level_families() -> None:
    import fabric.vault.metrics  # noqa: F401  (registered where the vault is used)

    text = await host_metrics_text(object())  # a host without call metrics or gateway
    families = _families(text)
    for name in ("fabric_cdr_writes", "fabric_cdr_write_latency_seconds",
                 "fabric_cdr_spool_depth", "fabric_cdr_spool_delivered",
                 "fabric_vault_operations", "fabric_vault_keys_destroyed"):
        assert name in families, name
    assert not [n for n in families if n.endswith("_created")]
    assert all(n.startswith("fabric_") for n in families)  # not the process collectors
    merged = merge([text, text])  # two host processes
    depth = {m.name: m for m in merged}["fabric_cdr_spool_depth"]
    assert [s.value for s in depth.samples] == [2 * families["fabric_cdr_spool_depth"][0][2]]


def _written(text: str) -> float:
    for name, labels, value in _families(text)["fabric_cdr_writes"]:
        if name == "fabric_cdr_writes_total" and labels == {"outcome": "written"}:
            return value
    return 0.0


def _failed(text: str) -> float:
    for name, labels, value in _families(text)["fabric_cdr_writes"]:
        if name == "fabric_cdr_writes_total" and labels == {"outcome": "failed"}:
            return value
    return 0.0


async def test_metered_store_counts_written_and_failed(make_cdr: Any) -> None:
    store = MeteredCdrStore(FakeCdrStore())
    before = cdr_metrics_text()
    await store.write(make_cdr())
    after_ok = cdr_metrics_text()
    assert _written(after_ok) == _written(before) + 1
    bad = make_cdr(hangup_cause="Not A Slug")
    with pytest.raises(InvalidArgument):
        await store.write(bad)
    assert _failed(cdr_metrics_text()) == _failed(after_ok) + 1
    assert _written(cdr_metrics_text()) == _written(after_ok)


class _Host:
    services: dict[type, object] = {}


class _ActorRuntime:
    host = _Host()


async def test_hosts_up_counts_live_hosts_by_role() -> None:
    texts = [await host_metrics_text(_ActorRuntime()), await host_metrics_text(_ActorRuntime()),
             await host_metrics_text(object())]
    up = {m.name: m for m in merge(texts)}["fabric_hosts_up"]
    assert {s.labels["role"]: s.value for s in up.samples} == {"actor": 2.0, "gateway": 1.0}

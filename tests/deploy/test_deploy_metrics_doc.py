"""Every metric is documented once (helm/README.md), and alerts and dashboard read only
documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def _documented() -> dict[str, tuple[str, str]]:
    """``{exposed name: (type, labels)}`` from the Metrics table."""
    text = (ROOT / "helm" / "README.md").read_text().split("## Metrics", 1)[1]
    rows = re.findall(r"^\| `(fabric_\w+)` \| (\w+) \|([^|]*)\|", text, re.MULTILINE)
    return {name: (kind, labels.strip()) for name, kind, labels in rows}


def _family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _defined_in_code() -> dict[str, str]:
    """``{family: type}`` of every metric the code defines (prometheus_client calls and
    hand-written expositions)."""
    found: dict[str, str] = {}
    kinds = {"Counter": "counter", "Gauge": "gauge", "Histogram": "histogram",
             "CounterMetricFamily": "counter", "GaugeMetricFamily": "gauge"}
    for folder in ("fabric", "actors", "cluster"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name.endswith("_pb2.py"):
                continue
            text = path.read_text()
            for kind, name in re.findall(r"\b(Counter|Gauge|Histogram|CounterMetricFamily|"
                                         r"GaugeMetricFamily)\(\s*\"(fabric_\w+)\"", text):
                found[name] = kinds[kind]
            for name, kind in re.findall(r"# TYPE (fabric_\w+) (\w+)", text):
                found[name] = kind
            for name in re.findall(r"counter\(\s*\"(fabric_\w+)\"", text):
                found[name] = "counter"
            for name in re.findall(r"\(\"(fabric_media_\w+)\", \"", text):
                found.setdefault(name, "gauge")  # the relay's table of gauges
    return found


def test_every_metric_in_the_code_is_documented_with_its_type() -> None:
    documented = {_family(n): kind for n, (kind, _) in _documented().items()}
    code = _defined_in_code()
    assert len(code) > 30  # the scan found the definitions
    missing = sorted(set(code) - set(documented))
    assert not missing, f"add to helm/README.md, Metrics: {missing}"
    wrong = {n: (k, documented[n]) for n, k in code.items() if documented[n] != k}
    assert not wrong, wrong


def test_counters_are_documented_with_their_exposed_name() -> None:
    for name, (kind, _) in _documented().items():
        assert name.endswith("_total") == (kind == "counter"), name


def _names_in(expr: str) -> set[str]:
    return {_family(n) for n in re.findall(r"\b(fabric_\w+)", expr)}


def test_alerts_and_dashboard_read_documented_metrics() -> None:
    documented = {_family(n) for n in _documented()}
    rules = yaml.safe_load((ROOT / "helm" / "files" / "alerts.yaml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= _names_in(rule["expr"])
    dashboard = json.loads((ROOT / "helm" / "files" / "dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= _names_in(target["expr"])
    assert used and not used - documented, used - documented


def test_dashboard_has_the_five_sections() -> None:
    dashboard = json.loads((ROOT / "helm" / "files" / "dashboard.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Calls", "Media", "Storage", "Runtime", "Privacy and security"]

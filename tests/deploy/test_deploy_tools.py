"""Offline checks of what carriers deploy, with the real tools (`make deploy-tools`).

helm lint and helm template (default, production and test values), kubeconform -strict
against the Kubernetes schemas bundled by the PyPI package kubernetes-validate and the CRD
schemas kept in tests/deploy/schemas, promtool check rules / test rules over the alerts,
and promtool check metrics over a live /metrics served by our own merge code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from actors.call_metrics import CallMetrics
from actors.metrics_export import MergedMetrics, host_metrics_text
from cluster.ports import free_tcp_port
from fabric._runtime.metrics import HostMetrics
from fabric.edge.metrics import EdgeMetrics
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.metrics import register_relay_metrics
from fabric.metrics_text import exposition

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".cache" / "tools"
CHART = ROOT / "helm"
KUBE_VERSION = "1.33.0"  # go-installed helm defaults to v1.20.0: always pass it
CRD_SCHEMAS = ROOT / "tests" / "deploy" / "schemas"
VALUES = {
    "default": [],
    "production": [CHART / "values-production.yaml"],
    "all-options": [ROOT / "tests" / "deploy" / "values-all.yaml"],
}
EXPECTED_KINDS = {
    "default": {"RayCluster", "Service", "Secret", "ConfigMap", "NetworkPolicy", "Pod"},
    "production": {"RayCluster", "Certificate", "StatefulSet", "PodDisruptionBudget",
                   "ServiceMonitor", "PrometheusRule", "NetworkPolicy"},
    "all-options": {"Certificate", "PodMonitor", "PrometheusRule", "ConfigMap"},
}


def _tool(name: str) -> str:
    found = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is missing: `make deploy-tools` installs it")
    return str(found)


def _run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True,
                          check=False, timeout=300)


@pytest.fixture(scope="module")
def k8s_schemas() -> Path:
    """kubernetes-validate's strict schemas, in a form kubeconform can resolve.

    The package's files carry an ``$id`` under kubernetes.io and refer to
    ``/api/_definitions.json``; kubeconform resolves references against the ``$id`` and
    finds nothing offline. The copy in .cache drops the ``$id`` and makes the references
    relative to the file (content otherwise unchanged).
    """
    import kubernetes_validate

    source = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
              / f"v{KUBE_VERSION}-local-strict")
    target = ROOT / ".cache" / "k8s-schemas" / f"v{KUBE_VERSION}-strict"
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        for path in source.glob("*.json"):
            text = path.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
            doc = json.loads(text)
            doc.pop("$id", None)
            (target / path.name).write_text(json.dumps(doc))
        done.write_text(str(source))
    return target


def _render(case: str, tmp_path: Path) -> Path:
    args: list[str | Path] = [_tool("helm"), "template", "fabric", CHART, "--namespace",
                              "telephony", "--kube-version", KUBE_VERSION]
    for values in VALUES[case]:
        args += ["-f", values]
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    out = tmp_path / f"{case}.yaml"
    out.write_text(result.stdout)
    return out


def _kubeconform(manifests: Path, schemas: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        _tool("kubeconform"), "-strict", "-summary", "-output", "text",
        "-kubernetes-version", KUBE_VERSION,
        "-schema-location", f"{schemas}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
        "-schema-location",
        f"{CRD_SCHEMAS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
        manifests,
    )


@pytest.mark.parametrize("case", sorted(VALUES))
def test_helm_lint_strict(case: str) -> None:
    args: list[str | Path] = [_tool("helm"), "lint", CHART, "--strict", "--kube-version",
                              KUBE_VERSION]
    for values in VALUES[case]:
        args += ["-f", values]
    result = _run(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_outside_the_schema_are_refused() -> None:
    result = _run(_tool("helm"), "lint", CHART, "--kube-version", KUBE_VERSION,
                  "--set", "media.portMin=80", "--set", "cassandra.mode=embedded")
    assert result.returncode != 0
    assert "portMin" in result.stdout and "cassandra/mode" in result.stdout


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["media.portMax=21500"], "need media.hostNetwork=true"),
        (["gateway.tls.secretName=x", "gateway.tls.certManager.enabled=true"], "not both"),
        (["cassandra.mode=internal", "cassandra.replicationFactor=5"], "exceeds"),
        (["monitoring.podMonitor.enabled=true", "monitoring.serviceMonitor.enabled=true"],
         "each scrape would count twice"),
    ],
)
def test_inconsistent_values_fail_with_a_reason(settings: list[str], message: str) -> None:
    args: list[str | Path] = [_tool("helm"), "template", "fabric", CHART, "--kube-version",
                              KUBE_VERSION]
    for setting in settings:
        args += ["--set", setting]
    result = _run(*args)
    assert result.returncode != 0 and message in result.stderr, result.stderr


@pytest.mark.parametrize("case", sorted(VALUES))
def test_rendered_manifests_pass_kubeconform_strict(
    case: str, k8s_schemas: Path, tmp_path: Path
) -> None:
    manifests = _render(case, tmp_path)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(manifests.read_text()) if doc}
    assert EXPECTED_KINDS[case] <= kinds, EXPECTED_KINDS[case] - kinds
    result = _kubeconform(manifests, k8s_schemas)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


@pytest.mark.parametrize(
    ("kind", "path"),
    [("StatefulSet", ["spec", "template", "spec"]), ("RayCluster", ["spec", "headGroupSpec"]),
     ("PrometheusRule", ["spec"]), ("Certificate", ["spec"])],
)
def test_kubeconform_refuses_a_misspelled_field(
    kind: str, path: list[str], k8s_schemas: Path, tmp_path: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(_render("production", tmp_path).read_text()) if d]
    doc = next(d for d in docs if d["kind"] == kind)
    node: Any = doc
    for key in path:
        node = node[key]
    node["replicaz"] = 1  # no such field anywhere in these objects
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc))
    result = _kubeconform(broken, k8s_schemas)
    assert result.returncode != 0 and "Invalid: 1" in result.stdout, result.stdout


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "Pod":
        return [spec]
    if kind in ("Deployment", "StatefulSet"):
        return [spec["template"]["spec"]]
    if kind == "RayCluster":
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        return [g["template"]["spec"] for g in groups]
    return []


@pytest.mark.parametrize("case", sorted(VALUES))
def test_every_container_has_requests_limits_and_runs_unprivileged(
    case: str, tmp_path: Path
) -> None:
    docs = [d for d in yaml.safe_load_all(_render(case, tmp_path).read_text()) if d]
    pods = [spec for doc in docs for spec in _pod_specs(doc)]
    assert pods
    for spec in pods:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"] + spec.get("initContainers", []):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
            assert {"cpu", "memory"} <= set(resources["limits"]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_helm_test_hook_calls_grpc_health(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(_render("default", tmp_path).read_text()) if d]
    [hook] = [d for d in docs if d["metadata"].get("annotations", {}).get("helm.sh/hook")]
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
    command = hook["spec"]["containers"][0]["command"]
    assert command[:3] == ["python", "-m", "cluster.health"]
    assert "fabric-callfabric-gateway:50051" in command


def test_control_runs_beside_the_ray_head(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(_render("production", tmp_path).read_text()) if d]
    [cluster] = [d for d in docs if d["kind"] == "RayCluster"]
    head, control = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["name"] == "ray-head"  # KubeRay's Ray container is the first one
    assert control["command"][:3] == ["python", "-m", "cluster.up"]
    env = {e["name"]: e.get("value") for e in control["env"]}
    assert env["FABRIC_RUNTIME__RAY_ADDRESS"] == "$(FABRIC_POD_IP):6379"  # a driver on its node
    mounts = {m["name"]: m["mountPath"] for m in control["volumeMounts"]}
    assert mounts["ray-tmp"] == "/tmp"  # shares /tmp/ray (the raylet's sockets) with ray-head
    assert cluster["spec"]["authOptions"] == {"mode": "token",
                                              "secretName": "fabric-callfabric-ray-token"}
    [settings] = [d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].endswith("-settings")]
    token_file = settings["data"]["FABRIC_RUNTIME__RAY_AUTH_TOKEN_FILE"]
    assert token_file.startswith(mounts["ray-auth"] + "/")  # the driver presents the token
    workers = cluster["spec"]["workerGroupSpecs"][0]
    assert (workers["minReplicas"], workers["replicas"], workers["maxReplicas"]) == (2, 2, 5)
    for pod in (cluster["spec"]["headGroupSpec"], workers):
        spec = pod["template"]["spec"]
        assert spec["hostNetwork"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", CHART / "files" / "alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    result = _run(_tool("promtool"), "test", "rules",
                  ROOT / "tests" / "deploy" / "alerts_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


class _Host:
    def __init__(self) -> None:
        self.services: dict[type, object] = {CallMetrics: CallMetrics()}


class _ActorRuntime:
    def __init__(self) -> None:
        self.host = _Host()


@pytest.fixture()
async def live_metrics() -> Iterator[str]:  # type: ignore[misc]
    """What `make up` serves: every kind of process's exposition, merged, over HTTP."""
    edge = EdgeMetrics()
    edge.observe("/fabric.api.v1.Calls/Dial", "OK", 0.004)
    relay = CollectorRegistry()
    register_relay_metrics(RelayEngine(RelayConfig(relay_index=0)), relay)
    texts = [
        HostMetrics("sys-h0.0").text(),
        await host_metrics_text(_ActorRuntime()),  # an actor host: calls, CDRs
        await host_metrics_text(object()),  # a gateway host
        edge.text(),
        exposition(relay),
    ]
    merged = MergedMetrics()
    merged.update(texts)
    registry = CollectorRegistry()
    registry.register(merged)
    port = free_tcp_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        thread.join(timeout=10)


async def test_promtool_check_metrics_over_live_endpoint(live_metrics: str) -> None:
    import asyncio

    def fetch() -> str:
        with urllib.request.urlopen(live_metrics, timeout=10) as reply:
            return str(reply.read().decode())

    text = await asyncio.to_thread(fetch)
    for family in ("fabric_cdr_writes_total", "fabric_cdr_spool_depth", "fabric_hosts_up",
                   "fabric_calls_active", "fabric_media_packets_dropped_total",
                   "fabric_actor_handler_seconds_bucket", "fabric_grpc_requests_total"):
        assert family in text, family
    assert "_created" not in text
    result = _run(_tool("promtool"), "check", "metrics", stdin=text)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(VALUES))
def test_every_ray_container_runs_with_usage_stats_off(case: str, tmp_path: Path) -> None:
    """Nothing leaves for third parties (issue 14): every container of the Ray pods reads the
    settings ConfigMap, which turns Ray's usage statistics off."""
    docs = [d for d in yaml.safe_load_all(_render(case, tmp_path).read_text()) if d]
    [settings] = [d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].endswith("-settings")]
    assert settings["data"]["RAY_USAGE_STATS_ENABLED"] == "0"
    [cluster] = [d for d in docs if d["kind"] == "RayCluster"]
    for pod in (cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]):
        for container in pod["template"]["spec"]["containers"]:
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])
                    if "configMapRef" in e]
            assert settings["metadata"]["name"] in refs, container["name"]

"""Ray's cluster port refuses a driver that does not present the cluster token.

The cluster is started the way the fabric starts it (``python -m cluster.ray_local up``, in
its own process so this test's environment stays clean); each driver is a fresh process.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.ray_local import _repo_runtime_settings

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0
PROBE = """
import sys, ray
try:
    ray.init(address=sys.argv[1], log_to_driver=False, _node_ip_address="127.0.0.1")
except Exception as exc:
    print("REFUSED", type(exc).__name__)
else:
    print("JOINED", ray.cluster_resources().get("CPU"))
"""


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """A one-node local cluster started by the fabric's helper; its GCS address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cluster.ray_local", "up", "--nodes", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        while "ray cluster up" not in line:
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the local Ray cluster did not start")
        yield line.split("address=")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _driver(address: str, tmp_path: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    # a HOME of its own: no ~/.ray/auth_token to fall back on
    base.update(HOME=str(tmp_path), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, address], env=base, cwd=tmp_path,
        capture_output=True, text=True, timeout=180,
    ).stdout
    return out.strip().splitlines()[-1] if out.strip() else ""


def test_a_driver_without_the_token_is_refused(cluster_address: str, tmp_path: Path) -> None:
    assert _driver(cluster_address, tmp_path).startswith("REFUSED")
    assert _driver(cluster_address, tmp_path, RAY_AUTH_MODE="token",
                   RAY_AUTH_TOKEN="0" * 64).startswith("REFUSED")


def test_a_driver_with_the_token_joins(cluster_address: str, tmp_path: Path) -> None:
    token = _repo_runtime_settings().ray_auth_token_file
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    joined = _driver(cluster_address, tmp_path, RAY_AUTH_MODE="token",
                     RAY_AUTH_TOKEN_PATH=str(token))
    assert joined.startswith("JOINED"), joined

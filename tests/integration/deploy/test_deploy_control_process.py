"""The chart's control container, for real: ``python -m cluster.up`` as a second driver on
a Ray cluster it did not start (as beside KubeRay's head), with Ray token authentication,
waiting on ``--api-target``; then the helm-test probe and the merged /metrics.

Uses the session's local Ray cluster (one node on loopback) instead of a KubeRay head.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cluster.health import main as health_main
from cluster.ports import free_tcp_port
from fabric.testing import eventually

pytestmark = [pytest.mark.ray]
ROOT = Path(__file__).resolve().parents[3]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


async def test_control_process_runs_the_fabric_on_an_existing_cluster(
    ray_cluster: Any, tmp_path: Path
) -> None:
    api, metrics = free_tcp_port(), free_tcp_port()
    media = free_tcp_port(15000, 19900)
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # the driver stays on loopback, like the node
        "FABRIC_RUNTIME__RAY_ADDRESS": ray_cluster.address,
        "FABRIC_RUNTIME__RAY_AUTH_TOKEN_FILE": str(ray_cluster.runtime.ray_auth_token_file),
        "FABRIC_RUNTIME__HOSTS_PER_NODE": "1",
        "FABRIC_API__PORT": str(api),
        "FABRIC_API__TLS_DIR": str(tmp_path / "tls"),
        "FABRIC_API__OPERATOR_TOKEN_FILE": str(tmp_path / "operator.token"),
        "FABRIC_METRICS__PORT": str(metrics),
        "FABRIC_STORAGE__BACKEND": "embedded",
        "FABRIC_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "FABRIC_VAULT__ROOT_KEY_FILE": str(tmp_path / "keys" / "root.key"),
        "FABRIC_MEDIA__PORT_MIN": str(media),
        "FABRIC_MEDIA__PORT_MAX": str(media + 19),
        "FABRIC_MEDIA__PUBLIC_HOST": "$FABRIC_TEST_NODE_IP",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "control.log"
    control = subprocess.Popen(
        [sys.executable, "-m", "cluster.up", "--api-target", f"localhost:{api}"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )
    try:
        url = f"http://127.0.0.1:{metrics}/metrics"

        async def serving() -> str:
            assert control.poll() is None, log.read_text()[-3000:]
            return await asyncio.to_thread(_get, url)

        text = await eventually(serving, 240, 1.0, what="the control process's /metrics",
                                retry_on=(OSError,))
        probe = ["--target", f"localhost:{api}", "--ca", str(tmp_path / "tls" / "ca.pem")]
        assert await asyncio.to_thread(health_main, probe) == 0
        assert 'fabric_hosts_up{role="actor"}' in text  # one per node of the cluster
        assert 'fabric_hosts_up{role="gateway"}' in text
        assert "fabric_cdr_writes_total" in text and "fabric_media_sessions_active" in text
        assert "fabric_tls_certificate_expiry_timestamp_seconds" in text
        assert "_created" not in text
    finally:
        control.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(control.wait, 90)
        except subprocess.TimeoutExpired:
            control.kill()
            raise
    assert code == 0, log.read_text()[-3000:]  # SIGTERM stops it cleanly

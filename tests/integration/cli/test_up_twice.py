"""A second ``make up`` (``python -m cluster.up``) while a fabric holds the API port says so
in one line and exits 1, before starting anything (no second Ray)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from cluster.ports import free_tcp_port

ROOT = Path(__file__).resolve().parents[3]


def test_a_second_make_up_says_the_fabric_is_already_running(tmp_path: Path) -> None:
    port = free_tcp_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        env = {**os.environ, "FABRIC_API__PORT": str(port), "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "cluster.up"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0] and str(port) in lines[0], lines
    assert not (tmp_path / ".run").exists()  # nothing started, nothing written


def test_make_up_with_a_missing_config_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cluster.up", "--config", "missing.toml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "missing.toml" in done.stderr
    assert "Traceback" not in done.stderr

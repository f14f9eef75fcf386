"""The processes behind a launcher node: find a node's JVM, tell whether it lives, stop it.

Kept apart from :mod:`cluster.cassandra` (layout, start, readiness, the command line). A node's
JVM runs in its own process group (session), so stopping sends SIGTERM to the group, waits
for Cassandra's shutdown hook and sends SIGKILL after a timeout: no orphan JVM. A lost pidfile
is not fatal: the JVM is found by its command line, which names the node's own yaml.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from cluster.cassandra_config import NodeSpec

STOP_TIMEOUT_S = 45.0
_EXEC_GRACE_S = 30.0  # a pidfile younger than this may name a JVM not yet exec-ed


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def node_pid(node: NodeSpec) -> int | None:
    """The pid of the node's running JVM, or None (a stale pidfile is removed).

    A pidfile is stale when its process is gone (or a zombie), or when the process is some
    other program (pid reuse). A process written less than ``_EXEC_GRACE_S`` ago whose
    command line does not read as Cassandra yet is still exec'ing, and counts as ours.
    """
    try:
        pid = int(node.pidfile.read_text().strip())
        written = node.pidfile.stat().st_mtime
    except (OSError, ValueError):
        return None
    if _alive(pid):
        cmd = _cmdline(pid)
        if "CassandraDaemon" in cmd and str(node.yaml_path) in cmd:
            return pid
        if "CassandraDaemon" not in cmd and time.time() - written < _EXEC_GRACE_S:
            return pid
    node.pidfile.unlink(missing_ok=True)
    return None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stop_nodes(nodes: list[NodeSpec], timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM every node's process group at once, SIGKILL what still runs after ``timeout``.

    Return how many nodes were running. Cassandra's shutdown hook drains (announces the
    shutdown, flushes memtables), which takes a few seconds per node, so nodes stop in
    parallel rather than one after the other.
    """
    running = {}
    for node in nodes:
        pid = node_pid(node) or _find_by_cmdline(node)
        if pid is not None:
            running[node.index] = (node, pid)
    for _, pid in running.values():
        _killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for _, pid in running.values()):
        time.sleep(0.2)
    for _, pid in running.values():
        if _alive(pid):
            _killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
    for node, _ in running.values():
        node.pidfile.unlink(missing_ok=True)
    return len(running)


def stop_node(node: NodeSpec, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop one node (see :func:`stop_nodes`); True if it was running."""
    return stop_nodes([node], timeout) == 1


def _find_by_cmdline(node: NodeSpec) -> int | None:
    """A JVM running this node's yaml whose pidfile was lost (so ``down`` leaves no orphan)."""
    marker = f"-Dcassandra.config=file://{node.yaml_path}"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            cmd = _cmdline(int(entry.name))
            if "CassandraDaemon" in cmd and marker in cmd and _alive(int(entry.name)):
                return int(entry.name)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


# --- cluster operations ----------------------------------------------------------------------



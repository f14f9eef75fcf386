"""A local multi-node Ray cluster on this machine: a head and N worker nodes.

Built on ``ray.cluster_utils.Cluster``: every node is a real raylet with its own object
store and worker processes, started as children of this process, so a test can kill one
worker node's processes (:meth:`LocalRayCluster.kill_node`) exactly as a machine loss
looks to Ray, and :meth:`LocalRayCluster.stop` leaves no process behind. The head gets a
fast health check (0.5 s x 3) so a dead node is declared dead in seconds, not 30.

Usage (tests, benchmarks)::

    with LocalRayCluster(nodes=2) as cluster:   # head + 1 worker, driver connected
        ...
        cluster.kill_node(cluster.worker_node_ids()[0])

From a shell (foreground; Ctrl-C stops it): ``python -m cluster.ray_local up --nodes 2``.
Only this process's driver connects (by address); nothing uses ``address="auto"``.

Start-up on a loaded machine: Ray 2.60 gives a new node's raylet a fixed 30 s to register
with the GCS (``raylet_start_wait_time_s = 30``, a local constant in
``ray/_private/node.py``: no setting or environment variable changes it) and then fails
with "The current node timed out during startup". A node start that fails so is retried
(:data:`NODE_START_ATTEMPTS`) after killing what the failed attempt left running; every wait
of our own (the node in the node table, its CPUs in the scheduler) is
:data:`STARTUP_TIMEOUT_S`, overridable with ``FABRIC_RAY_STARTUP_TIMEOUT_S``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cluster.ray_security import secure_ray
from fabric.config import FabricSettings, RuntimeSettings

log = logging.getLogger(__name__)

# Every node and the driver use loopback: this fabric's local cluster never talks over the
# machine's other interfaces.
NODE_IP = "127.0.0.1"


def pin_ray_to_loopback() -> None:
    """Make Ray resolve "this node" to 127.0.0.1 in this process and its children.

    ``ray.init(address="127.0.0.1:port")`` rewrites a loopback address to the machine's
    routable IP unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is off, the only switch Ray
    reads for that (``ray._private.services.get_node_ip_address``). Children read the
    variable at import; this process may have imported Ray already, so its constant is
    set too.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _repo_runtime_settings() -> RuntimeSettings:
    # FABRIC_RUNTIME__* settings; relative token and TLS paths under the repository root
    root = Path(__file__).resolve().parent.parent
    runtime = FabricSettings().runtime
    return runtime.model_copy(update={
        "ray_auth_token_file": root / runtime.ray_auth_token_file,
        "ray_tls_dir": root / runtime.ray_tls_dir,
    })


STARTUP_TIMEOUT_S = float(os.environ.get("FABRIC_RAY_STARTUP_TIMEOUT_S", "180"))
NODE_START_ATTEMPTS = 3
_RAYLET_TIMEOUT = "timed out during startup"

FAST_FAILURE_DETECTION = {
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
    "health_check_initial_delay_ms": 0,
}


class LocalRayCluster:
    """Head + worker Ray nodes as local processes; the driver connects on start."""

    def __init__(
        self,
        nodes: int = 2,
        cpus_per_node: int = 1,
        object_store_mb: int = 100,
        namespace: str | None = None,
        connect: bool = True,
        runtime: RuntimeSettings | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("nodes must be >= 1 (the head counts as one)")
        self.nodes = nodes
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_mb * 1024 * 1024
        self.namespace = namespace
        self.connect = connect
        self.runtime = runtime or _repo_runtime_settings()
        self._cluster: Any = None
        self._workers: dict[str, Any] = {}
        self.head_node_id = ""

    @property
    def address(self) -> str:
        """The GCS address of the head."""
        if self._cluster is None:
            raise RuntimeError("cluster is not started")
        return str(self._cluster.address)

    def start(self) -> Self:
        """Start the head and the worker nodes; connect the driver (if ``connect``)."""
        import ray
        from ray.cluster_utils import Cluster

        started = time.monotonic()
        pin_ray_to_loopback()
        secure_ray(self.runtime, [NODE_IP])  # token auth (and TLS) for every node + driver
        # nodes are children of this process and inherit its environment: make the repo
        # importable in every Ray worker (actor types are imported there by name)
        repo = str(Path(__file__).resolve().parent.parent)
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if repo not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([repo, *paths])
        self._cluster = Cluster(initialize_head=False)
        try:
            self._start_node(
                num_cpus=self.cpus_per_node,
                object_store_memory=self.object_store_bytes,
                node_ip_address=NODE_IP,
                include_dashboard=False,
                _system_config=FAST_FAILURE_DETECTION,
            )
            for _ in range(self.nodes - 1):
                self.add_node()
            self.head_node_id = self._cluster.head_node.node_id
            if self.connect:
                self.connect_driver(self.namespace)
            self._cluster.wait_for_nodes(timeout=STARTUP_TIMEOUT_S)
            if self.connect:
                self._wait_for_resources(ray)
        except BaseException:
            self.stop()
            raise
        log.info("local Ray cluster with %d nodes up in %.1f s", self.nodes,
                 time.monotonic() - started)
        return self

    def _start_node(self, **node_args: Any) -> Any:
        """Start the head (first call) or a worker node; retry a raylet start time-out."""
        import psutil

        me = psutil.Process()
        for attempt in range(1, NODE_START_ATTEMPTS + 1):
            before = {p.pid for p in me.children(recursive=True)}
            try:
                node = self._cluster.add_node(wait=False, **node_args)
            except Exception as exc:
                if _RAYLET_TIMEOUT not in str(exc) or attempt == NODE_START_ATTEMPTS:
                    raise
                log.warning("Ray node start attempt %d timed out (loaded machine?); "
                            "retrying", attempt)
                # the failed attempt's processes (raylet, GCS, agents) are ours to end
                for proc in me.children(recursive=True):
                    if proc.pid not in before:
                        proc.kill()
                continue
            self._cluster._wait_for_node(node, timeout=STARTUP_TIMEOUT_S)
            log.info("Ray node %s started (attempt %d)", node.node_id, attempt)
            return node
        raise AssertionError("unreachable")

    def connect_driver(self, namespace: str | None = None) -> None:
        """(Re)connect this process's driver to the cluster, in ``namespace``.

        A reconnect ends the previous driver's job, and with it every actor that job
        created (tests give each module a fresh job and namespace this way).
        """
        import ray

        if ray.is_initialized():
            ray.shutdown()
        ray.init(address=self.address, namespace=namespace, log_to_driver=False,
                 _node_ip_address=NODE_IP)

    def _wait_for_resources(self, ray: Any, timeout: float = STARTUP_TIMEOUT_S) -> None:
        # a node is schedulable only once its resources reached the scheduler; placing
        # actors before that makes a soft node affinity fall back to another node
        want = float((1 + len(self._workers)) * self.cpus_per_node)
        deadline = time.monotonic() + timeout
        while ray.available_resources().get("CPU", 0.0) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Ray nodes did not report {want:g} CPUs in {timeout:g} s")
            time.sleep(0.1)

    def worker_node_ids(self) -> list[str]:
        """Ids of the live worker (non-head) nodes."""
        return list(self._workers)

    def kill_node(self, node_id: str) -> None:
        """SIGKILL a worker node's raylet, object store and workers (a machine loss)."""
        node = self._workers.pop(node_id)
        self._cluster.remove_node(node, allow_graceful=False)

    def add_node(self) -> str:
        """Start one more worker node; return its id once the driver can place on it."""
        import ray

        node = self._start_node(
            num_cpus=self.cpus_per_node,
            object_store_memory=self.object_store_bytes,
            node_ip_address=NODE_IP,
        )
        self._workers[node.node_id] = node
        if ray.is_initialized():
            self._wait_for_resources(ray)
        return str(node.node_id)

    def ensure_workers(self, count: int) -> list[str]:
        """Start worker nodes until ``count`` are alive; return the ids of the live ones."""
        while len(self._workers) < count:
            self.add_node()
        return self.worker_node_ids()

    def stop(self) -> None:
        """Disconnect the driver and stop every node's processes."""
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if self._cluster is not None:
            try:
                self._cluster.shutdown()
            finally:
                self._cluster = None
                self._workers.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``up`` runs a local cluster in the foreground until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m cluster.ray_local")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--tls", action="store_true", help="TLS between the Ray processes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = _repo_runtime_settings().model_copy(update={"ray_tls": args.tls})
    with LocalRayCluster(nodes=args.nodes, cpus_per_node=args.cpus_per_node,
                         connect=False, runtime=runtime) as cluster:
        print(f"ray cluster up: address={cluster.address} nodes={args.nodes} "
              f"pid={os.getpid()}", flush=True)
        stop.wait()
    print("ray cluster stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

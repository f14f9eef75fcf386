"""Run a real Apache Cassandra 5.0 on this machine: ``python -m cluster.cassandra up|down|status``.

One node (the shared dev node on 127.0.0.1:9042) or several on consecutive loopback
addresses (``--nodes 3 --address 127.0.0.11`` gives .11, .12, .13), each a ``CassandraDaemon``
JVM started from the jars that :mod:`cluster.cassandra_jars` resolves from Maven Central.

Why it works this way:

- ``up`` is idempotent: a node whose pidfile names a live Cassandra JVM for the same node
  folder is left alone, a stale pidfile is removed. It returns when every node answers a CQL
  ``OPTIONS`` request, which Cassandra only serves once it is ready for clients; a JVM that
  dies while we wait is reported with the tail of its log.
- The JVM runs in its own session (process group), so ``down`` can send SIGTERM to the
  group, wait for Cassandra's shutdown hook, and SIGKILL after a timeout: no orphan JVM.
- The cluster layout is saved in ``<dir>/cluster.json`` so ``down`` and ``status`` need
  only ``--dir``.
- ``--dcs us,eu`` names each node's data centre (GossipingPropertyFileSnitch and a
  ``cassandra-rackdc.properties`` per node): a two-DC cluster on one machine, where a
  keyspace replicated only in ``eu`` keeps its rows on the ``eu`` node (data residency).
- No node takes anonymous clients: password roles and TLS (:mod:`cluster.cassandra_security`);
  ``up`` prints the ``storage.*`` settings that log in.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.cassandra_config import NodeSpec, java_command, node_specs, write_node_files
from cluster.cassandra_jars import REPO_ROOT, JarResolutionError, ensure_jars, jar_cache_bytes
from cluster.cassandra_process import (
    node_pid,
    rss_mb,
    stop_nodes,
)
from cluster.cassandra_security import (
    CassandraSecurity,
    admin_session,
    client_settings,
    ensure_material,
    ensure_role,
    security_yaml,
    ssl_context,
    write_marker,
)

DEFAULT_DIR = REPO_ROOT / ".run" / "cassandra"
START_TIMEOUT_S = 180.0



class LauncherError(RuntimeError):
    """The launcher could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ClusterLayout:
    """Addresses, ports and heap of a local cluster, saved in ``cluster.json``."""

    base_dir: Path
    addresses: list[str]
    native_port: int = 9042
    storage_port: int = 7000
    heap_mb: int = 1024
    datacenters: list[str] = field(default_factory=list)  # one per node; [] = one DC

    @property
    def nodes(self) -> list[NodeSpec]:
        """One spec per node."""
        return node_specs(
            self.base_dir,
            self.addresses,
            native_port=self.native_port,
            storage_port=self.storage_port,
            heap_mb=self.heap_mb,
            datacenters=self.datacenters or None,
        )

    def save(self) -> None:
        """Write ``cluster.json``."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "addresses": self.addresses,
            "native_port": self.native_port,
            "storage_port": self.storage_port,
            "heap_mb": self.heap_mb,
            "datacenters": self.datacenters,
        }
        (self.base_dir / "cluster.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, base_dir: Path) -> ClusterLayout | None:
        """Read ``cluster.json``, or None when the folder holds no cluster."""
        path = base_dir / "cluster.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            base_dir=base_dir,
            addresses=list(data["addresses"]),
            native_port=int(data["native_port"]),
            storage_port=int(data["storage_port"]),
            heap_mb=int(data["heap_mb"]),
            datacenters=list(data.get("datacenters", [])),
        )


def consecutive_addresses(first: str, count: int) -> list[str]:
    """``count`` loopback addresses starting at ``first`` (127.0.0.11 -> .11, .12, ...)."""
    parts = [int(p) for p in first.split(".")]
    if len(parts) != 4 or parts[0] != 127 or parts[3] + count - 1 > 254:
        raise LauncherError(f"--address must be a 127.x.y.z address with room for {count} nodes")
    return [f"{parts[0]}.{parts[1]}.{parts[2]}.{parts[3] + i}" for i in range(count)]


# --- process helpers -------------------------------------------------------------------------


def cql_ready(
    address: str, port: int, timeout: float = 2.0, ca_file: Path | None = None
) -> bool:
    """True when a CQL server at ``address:port`` answers an OPTIONS request with SUPPORTED
    (over TLS, verifying the node against ``ca_file``, when it is given)."""
    # v4 frame header: version, flags, stream id, opcode (0x05 OPTIONS), body length 0.
    request = struct.pack(">BBhBI", 0x04, 0, 1, 0x05, 0)
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            sock = (ssl_context(ca_file).wrap_socket(raw, server_hostname=address)
                    if ca_file is not None else raw)
            sock.settimeout(timeout)
            sock.sendall(request)
            header = b""
            while len(header) < 9:
                chunk = sock.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    return header[4] == 0x06  # SUPPORTED


def _port_in_use(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def _log_tail(node: NodeSpec, lines: int = 30) -> str:
    chunks = []
    for path in (node.stdout_path, node.log_dir / "system.log"):
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {path} ---\n" + "\n".join(text))
    return "\n".join(chunks)


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH, checked to be Java 11 or 17."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise LauncherError("no 'java' found; install OpenJDK 17 (Cassandra 5.0 runs on 11 or 17)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))
    if major not in (11, 17):
        raise LauncherError(
            f"{java} is Java {major or '?'}; Cassandra 5.0 runs on Java 11 or 17 only "
            "(set JAVA_HOME to a JDK 17)"
        )
    return java


# --- node lifecycle --------------------------------------------------------------------------


def start_node(node: NodeSpec, lib: Path, cluster_size: int) -> int:
    """Start the node's JVM unless it runs already; return its pid (does not wait)."""
    pid = node_pid(node)
    if pid is not None:
        return pid
    if _port_in_use(node.address, node.native_port):
        raise LauncherError(
            f"{node.address}:{node.native_port} is taken by a process this launcher did not "
            f"start (folder {node.node_dir}); stop it or choose another --address/--native-port"
        )
    java = find_java()
    sec = ensure_material(node.node_dir.parent, [node.address])
    write_node_files(node, security_yaml(sec, cluster_size))
    write_marker(node.node_dir, sec)
    with node.stdout_path.open("ab") as out:
        proc = subprocess.Popen(
            java_command(node, lib, cluster_size, java=java),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=node.node_dir,
            start_new_session=True,
        )
    node.pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def _ca_of(node: NodeSpec) -> Path | None:
    # the CA a client verifies this node against, if it was started with TLS
    return CassandraSecurity(node.node_dir.parent).ca_file if (
        node.node_dir / "security.json").exists() else None


def wait_ready(node: NodeSpec, timeout: float = START_TIMEOUT_S) -> float:
    """Poll until the node answers CQL; return seconds waited. Raise if the JVM dies."""
    began = time.monotonic()
    ca_file = _ca_of(node)
    while True:
        if cql_ready(node.address, node.native_port, ca_file=ca_file):
            return time.monotonic() - began
        if node_pid(node) is None:
            raise LauncherError(f"node{node.index} exited during startup:\n{_log_tail(node)}")
        if time.monotonic() - began > timeout:
            raise LauncherError(
                f"node{node.index} did not answer CQL within {timeout:.0f}s:\n{_log_tail(node)}"
            )
        time.sleep(0.25)


def up(layout: ClusterLayout, timeout: float = START_TIMEOUT_S) -> dict[str, float]:
    """Start every node (the seed first) and wait for CQL; return start seconds per node."""
    existing = ClusterLayout.load(layout.base_dir)
    if existing is not None and existing != layout:
        running = [n for n in existing.nodes if node_pid(n) is not None]
        if running:
            raise LauncherError(
                f"{layout.base_dir} already runs a different cluster "
                f"({existing.addresses}); run `python -m cluster.cassandra down --dir "
                f"{layout.base_dir}` first"
            )
    try:
        lib = ensure_jars()
    except JarResolutionError as exc:
        raise LauncherError(str(exc)) from exc
    layout.save()
    sec = ensure_material(layout.base_dir, list(layout.addresses))
    nodes = layout.nodes
    timings: dict[str, float] = {}
    began = time.monotonic()
    seed, others = nodes[0], nodes[1:]
    start_node(seed, lib, len(nodes))
    wait_ready(seed, timeout)
    timings[f"node{seed.index}"] = round(time.monotonic() - began, 1)
    for node in others:  # pre-set tokens and no bootstrap: the rest may join together
        start_node(node, lib, len(nodes))
    for node in others:
        try:
            wait_ready(node, timeout)
        except LauncherError:
            # On a loaded machine a joining node can miss the seed's gossip reply and exit
            # ("Unable to gossip with any peers"); one more start normally succeeds.
            if node_pid(node) is not None:
                raise
            start_node(node, lib, len(nodes))
            wait_ready(node, timeout)
        timings[f"node{node.index}"] = round(time.monotonic() - began, 1)
    if others:
        wait_ring_up(nodes, timeout)
        timings["ring"] = round(time.monotonic() - began, 1)
    if _ca_of(seed) is not None:  # roles are replicated: made once the ring is up
        ensure_role(seed.address, seed.native_port, sec, timeout)
    return timings


def _ring_probe_session(node: NodeSpec, profile: Any, began: float,
                        timeout: float) -> tuple[Any, Any]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster

    options = {"execution_profiles": {EXEC_PROFILE_DEFAULT: profile}}
    if _ca_of(node) is None:
        cluster = Cluster([node.address], port=node.native_port, protocol_version=4, **options)
        return cluster, cluster.connect()
    while True:  # the default role appears once a quorum of the ring is up
        try:
            return admin_session(node.address, node.native_port,
                                 CassandraSecurity(node.node_dir.parent), **options)
        except Exception as exc:
            if time.monotonic() - began > timeout:
                raise LauncherError(f"cannot log in to node{node.index}: {exc}") from exc
            time.sleep(1.0)


def wait_ring_up(nodes: list[NodeSpec], timeout: float = START_TIMEOUT_S) -> float:
    """Poll until every node, as coordinator, sees every replica alive; return seconds.

    Answering CQL does not mean a node's gossip has marked its peers up (we skip the
    gossip settle wait to start fast), and until it has, a QUORUM request through it fails
    with Unavailable. The probe is a read at consistency ALL of a ``system_distributed``
    table (replicated to min(3, N) nodes), sent to each node in turn.
    """
    from cassandra import ConsistencyLevel
    from cassandra.cluster import ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy
    from cassandra.query import SimpleStatement

    began = time.monotonic()
    probe = SimpleStatement(
        "SELECT keyspace_name FROM system_distributed.repair_history LIMIT 1",
        consistency_level=ConsistencyLevel.ALL,
    )
    for node in nodes:
        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([node.address]), request_timeout=10
        )
        cluster, session = _ring_probe_session(node, profile, began, timeout)
        try:
            while True:
                try:
                    session.execute(probe)
                    break
                except Exception as exc:  # Unavailable / timeouts until gossip settles
                    if time.monotonic() - began > timeout:
                        raise LauncherError(
                            f"node{node.index} did not see all replicas alive within "
                            f"{timeout:.0f}s ({type(exc).__name__})"
                        ) from exc
                    time.sleep(0.5)
        finally:
            cluster.shutdown()
    return time.monotonic() - began


def down(base_dir: Path) -> int:
    """Stop every node of the cluster in ``base_dir``; return how many were running."""
    layout = ClusterLayout.load(base_dir)
    if layout is None:
        return 0
    return stop_nodes(layout.nodes)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What ``status`` reports for one node."""

    name: str
    address: str
    native_port: int
    pid: int | None
    cql_ready: bool
    rss_mb: float

    @property
    def state(self) -> str:
        """UP (answers CQL), STARTING (JVM alive, no CQL yet) or DOWN."""
        if self.cql_ready:
            return "UP"
        return "STARTING" if self.pid is not None else "DOWN"


def status(base_dir: Path) -> list[NodeStatus]:
    """State of every node of the cluster in ``base_dir`` (empty when there is none)."""
    layout = ClusterLayout.load(base_dir)
    if layout is None:
        return []
    result = []
    for node in layout.nodes:
        pid = node_pid(node)
        result.append(
            NodeStatus(
                name=f"node{node.index}",
                address=node.address,
                native_port=node.native_port,
                pid=pid,
                cql_ready=pid is not None
                and cql_ready(node.address, node.native_port, ca_file=_ca_of(node)),
                rss_mb=rss_mb(pid) if pid else 0.0,
            )
        )
    return result


# --- command line ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cluster.cassandra", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="cluster folder")
    parser.add_argument("--nodes", type=int, default=1, choices=range(1, 10), metavar="N")
    parser.add_argument("--address", default="127.0.0.1", help="first node's loopback address")
    parser.add_argument("--native-port", type=int, default=9042, help="CQL port of every node")
    parser.add_argument("--storage-port", type=int, default=7000, help="internode port")
    parser.add_argument("--heap", type=int, default=0, help="heap MB per node (1024 or 512)")
    parser.add_argument("--timeout", type=float, default=START_TIMEOUT_S, help="start timeout")
    parser.add_argument("--dcs", default="",
                        help="data centre of each node, comma-separated (e.g. us,eu)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cluster.cassandra``."""
    args = _parser().parse_args(argv)
    base_dir: Path = args.dir.resolve()
    try:
        if args.command == "up":
            heap = args.heap or (1024 if args.nodes == 1 else 512)
            dcs = [d for d in args.dcs.split(",") if d]
            if dcs and len(dcs) != args.nodes:
                raise LauncherError(f"--dcs names {len(dcs)} data centres for {args.nodes} "
                                    "node(s): give one per node (e.g. --nodes 2 --dcs us,eu)")
            layout = ClusterLayout(
                base_dir=base_dir,
                addresses=consecutive_addresses(args.address, args.nodes),
                native_port=args.native_port,
                storage_port=args.storage_port,
                heap_mb=heap,
                datacenters=dcs,
            )
            began = time.monotonic()
            timings = up(layout, args.timeout)
            total = time.monotonic() - began
            print(
                f"cassandra up: {len(timings)} node(s) answer CQL on "
                f"{', '.join(f'{a}:{args.native_port}' for a in layout.addresses)} "
                f"({total:.1f}s; heap {heap} MB/node; data in {base_dir})"
            )
            for name, value in client_settings(base_dir).items():  # never the password
                print(f"  FABRIC_STORAGE__{name.upper()}={value}")
            return 0
        if args.command == "down":
            stopped = down(base_dir)
            print(f"cassandra down: stopped {stopped} node(s) in {base_dir}")
            return 0
        nodes = status(base_dir)
        if not nodes:
            print(f"no cluster in {base_dir}")
            return 3
        for n in nodes:
            pid = n.pid if n.pid is not None else "-"
            print(
                f"{n.name} {n.address}:{n.native_port} {n.state:8} pid={pid} rss={n.rss_mb:.0f}MB"
            )
        print(f"jar cache: {jar_cache_bytes() / 2**20:.0f} MB")
        up_count = sum(n.state == "UP" for n in nodes)
        return 0 if up_count == len(nodes) else (3 if up_count == 0 else 1)
    except LauncherError as exc:
        print(f"cluster.cassandra: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

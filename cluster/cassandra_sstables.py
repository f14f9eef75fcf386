"""What a launcher node holds on disk: the partition keys in its SSTables of one table.

For residency checks: after a clean stop (Cassandra's shutdown hook flushes memtables), the
SSTables of ``<node>/data/<keyspace>/<table>-<id>/`` are read with Cassandra's own
``SSTableExport`` (``sstabledump``) from the launcher's jars, offline, so what is found is
what that node stores, not what a coordinator would fetch from another node.
"""

from __future__ import annotations

import json
import subprocess

from cluster.cassandra_config import JAVA17_FLAGS, NodeSpec
from cluster.cassandra_jars import ensure_jars
from cluster.cassandra_process import node_pid

EXPORT_TIMEOUT_S = 120.0


def data_files(node: NodeSpec, keyspace: str, table: str) -> list[str]:
    """The node's ``*-Data.db`` files of ``keyspace.table`` (none when it holds no rows)."""
    root = node.node_dir / "data" / keyspace
    return sorted(str(p) for d in root.glob(f"{table}-*") for p in d.glob("*-Data.db"))


def partition_keys(node: NodeSpec, keyspace: str, table: str, java: str = "java") -> list[str]:
    """Every partition key in the node's SSTables of ``keyspace.table`` (as sstabledump
    prints them, e.g. ``t-1:2026-03-14`` for a composite key). The node must be stopped."""
    if node_pid(node) is not None:
        raise RuntimeError(f"node{node.index} is running: stop it so its memtables are "
                           "flushed and its SSTables are complete")
    lib = ensure_jars()
    keys: list[str] = []
    for path in data_files(node, keyspace, table):
        out = subprocess.run(
            [java, *JAVA17_FLAGS, f"-Dcassandra.config=file://{node.yaml_path}",
             f"-Dlogback.configurationFile={node.logback_path}",
             *([f"-Dcassandra-rackdc.properties=file://{node.rackdc_path}"]
               if node.datacenter else []),
             f"-Dcassandra.logdir={node.log_dir}", "-cp", f"{lib}/*",
             "org.apache.cassandra.tools.SSTableExport", path, "-e"],
            capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=True,
        ).stdout
        start = out.find("[")
        for key in json.loads(out[start:]) if start >= 0 else []:
            keys.append(":".join(str(k) for k in key) if isinstance(key, list) else str(key))
    return keys

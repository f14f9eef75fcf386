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
SHORT_RUN_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m",
                   "-XX:-UsePerfData"]
"""A dump runs for a second or two: the quick compiler only, one GC thread, a small heap."""


def data_files(node: NodeSpec, keyspace: str, table: str) -> list[str]:
    """The node's ``*-Data.db`` files of ``keyspace.table`` (none when it holds no rows)."""
    root = node.node_dir / "data" / keyspace
    return sorted(str(p) for d in root.glob(f"{table}-*") for p in d.glob("*-Data.db"))


def _export(node: NodeSpec, path: str, java: str, *flags: str) -> str:
    """sstabledump of one Data.db file of a stopped node (its stdout)."""
    if node_pid(node) is not None:
        raise RuntimeError(f"node{node.index} is running: stop it so its memtables are "
                           "flushed and its SSTables are complete")
    lib = ensure_jars()
    return subprocess.run(
        [java, *JAVA17_FLAGS, *SHORT_RUN_FLAGS, f"-Dcassandra.config=file://{node.yaml_path}",
         f"-Dlogback.configurationFile={node.logback_path}",
         *([f"-Dcassandra-rackdc.properties=file://{node.rackdc_path}"]
           if node.datacenter else []),
         f"-Dcassandra.logdir={node.log_dir}", "-cp", f"{lib}/*",
         "org.apache.cassandra.tools.SSTableExport", path, *flags],
        capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=True,
    ).stdout


def rows_text(node: NodeSpec, keyspace: str, table: str, java: str = "java") -> str:
    """The whole sstabledump (JSON: partitions, rows, clustering and cell values) of the
    node's SSTables of ``keyspace.table``, for a search of values that are not partition
    keys (a reminder's actor key is a clustering column). The node must be stopped."""
    return "\n".join(_export(node, path, java) for path in data_files(node, keyspace, table))


def partition_keys(node: NodeSpec, keyspace: str, table: str, java: str = "java") -> list[str]:
    """Every partition key in the node's SSTables of ``keyspace.table`` (as sstabledump
    prints them, e.g. ``t-1:2026-03-14`` for a composite key). The node must be stopped."""
    if node_pid(node) is not None:
        raise RuntimeError(f"node{node.index} is running: stop it so its memtables are "
                           "flushed and its SSTables are complete")
    keys: list[str] = []
    for path in data_files(node, keyspace, table):
        out = _export(node, path, java, "-e")
        start = out.find("[")
        for key in json.loads(out[start:]) if start >= 0 else []:
            keys.append(":".join(str(k) for k in key) if isinstance(key, list) else str(key))
    return keys

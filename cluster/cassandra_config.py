"""Per-node files of a local Cassandra: ``cassandra.yaml``, ``logback.xml`` and the JVM command.

Why these choices:

- The yaml is minimal (Cassandra 5.0 rejects unknown keys) and tuned small: two CPUs are
  shared by every process on a dev box, so thread pools, caches and memtables are cut down.
- Every node of a local cluster listens on its own loopback address with the same ports,
  the way ccm does it; tokens are pre-computed (``num_tokens: 1``) and ``auto_bootstrap`` is
  off, so nodes join without streaming or token allocation.
- No JMX: nothing here needs nodetool, and a JMX port per node is one more clash to avoid.
- ``cassandra.unsafesystem`` skips fsync on system tables, which makes the many
  CREATE/DROP KEYSPACE of a test run quick. This launcher is for development and tests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MURMUR3_MIN = -(2**63)

# Flags from Cassandra 5.0's conf/jvm17-server.options (JPMS section), plus the two that
# cassandra-unit adds (jmx.remote.security, java.nio). Without them Java 17 refuses the
# reflective access Cassandra and netty rely on.
JAVA17_FLAGS = [
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.management/com.sun.jmx.remote.security=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One local node: its index, loopback address, ports, folder and heap."""

    index: int
    address: str
    seeds: str
    token: int
    node_dir: Path
    native_port: int = 9042
    storage_port: int = 7000
    heap_mb: int = 1024
    cluster_name: str = "callfabric-dev"
    datacenter: str = ""  # '' = SimpleSnitch (dc 'datacenter1'); else this node's data centre

    @property
    def rackdc_path(self) -> Path:
        """The node's cassandra-rackdc.properties (with a named data centre)."""
        return self.node_dir / "conf" / "cassandra-rackdc.properties"

    @property
    def pidfile(self) -> Path:
        """File holding the JVM's process id while it runs."""
        return self.node_dir / "cassandra.pid"

    @property
    def yaml_path(self) -> Path:
        """The node's cassandra.yaml."""
        return self.node_dir / "conf" / "cassandra.yaml"

    @property
    def logback_path(self) -> Path:
        """The node's logback.xml."""
        return self.node_dir / "conf" / "logback.xml"

    @property
    def log_dir(self) -> Path:
        """Folder of system.log and the JVM's stdout."""
        return self.node_dir / "logs"

    @property
    def stdout_path(self) -> Path:
        """Where the JVM's stdout and stderr go (startup failures show here)."""
        return self.log_dir / "stdout.log"


def balanced_tokens(count: int) -> list[int]:
    """Evenly spaced Murmur3 tokens, one per node (``num_tokens: 1``)."""
    return [MURMUR3_MIN + (2**64 // count) * i for i in range(count)]


def node_specs(
    base_dir: Path,
    addresses: list[str],
    *,
    native_port: int = 9042,
    storage_port: int = 7000,
    heap_mb: int = 1024,
    datacenters: list[str] | None = None,
) -> list[NodeSpec]:
    """Describe a local cluster of ``len(addresses)`` nodes, the first one being the seed;
    ``datacenters`` names each node's data centre (e.g. ``["us", "eu"]``), else one DC."""
    tokens = balanced_tokens(len(addresses))
    dcs = datacenters or [""] * len(addresses)
    if len(dcs) != len(addresses):
        raise ValueError("give one data centre per node")
    return [
        NodeSpec(
            index=i + 1,
            address=addr,
            seeds=addresses[0],
            token=tokens[i],
            node_dir=base_dir / f"node{i + 1}",
            native_port=native_port,
            storage_port=storage_port,
            heap_mb=heap_mb,
            datacenter=dcs[i],
        )
        for i, addr in enumerate(addresses)
    ]


# With named data centres, system_auth keeps its SimpleStrategy replicas (one per DC on a
# two-DC cluster): LOCAL_QUORUM logins would need two replicas in the local DC and fail.
MULTI_DC_YAML = """auth_read_consistency_level: ONE
auth_write_consistency_level: ONE
"""


def render_yaml(node: NodeSpec) -> str:
    """A minimal, small-footprint cassandra.yaml for ``node``."""
    d = node.node_dir
    return f"""\
cluster_name: '{node.cluster_name}'
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: {"GossipingPropertyFileSnitch" if node.datacenter else "SimpleSnitch"}
num_tokens: 1
initial_token: '{node.token}'
auto_bootstrap: false
listen_address: {node.address}
rpc_address: {node.address}
storage_port: {node.storage_port}
native_transport_port: {node.native_port}
start_native_transport: true
seed_provider:
    - class_name: org.apache.cassandra.locator.SimpleSeedProvider
      parameters:
          - seeds: "{node.seeds}:{node.storage_port}"
data_file_directories:
    - {d}/data
commitlog_directory: {d}/commitlog
saved_caches_directory: {d}/saved_caches
hints_directory: {d}/hints
cdc_raw_directory: {d}/cdc_raw
cdc_enabled: false
commitlog_sync: periodic
commitlog_sync_period: 10s
commitlog_segment_size: 8MiB
commitlog_total_space: 256MiB
auto_snapshot: false
incremental_backups: false
snapshot_before_compaction: false
concurrent_reads: 8
concurrent_writes: 16
concurrent_counter_writes: 2
concurrent_compactors: 1
memtable_flush_writers: 1
memtable_allocation_type: heap_buffers
disk_access_mode: standard
key_cache_size: 8MiB
counter_cache_size: 1MiB
file_cache_size: 64MiB
index_summary_capacity: 4MiB
min_free_space_per_drive: 0MiB
hinted_handoff_enabled: true
max_hint_window: 1h
trickle_fsync: false
compaction_throughput: 0MiB/s
write_request_timeout: 5000ms
read_request_timeout: 5000ms
range_request_timeout: 10000ms
cas_contention_timeout: 3000ms
batch_size_warn_threshold: 64KiB
batch_size_fail_threshold: 640KiB
user_defined_functions_enabled: false
materialized_views_enabled: false
sasi_indexes_enabled: false
""" + (MULTI_DC_YAML if node.datacenter else "")


def render_logback(node: NodeSpec) -> str:
    """logback.xml: INFO and above to logs/system.log (rolled), nothing on the console."""
    log = node.log_dir
    return f"""\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{log}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{log}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <logger name="com.thinkaurelius.thrift" level="ERROR"/>
  <root level="WARN">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
"""


def java_command(node: NodeSpec, lib: Path, cluster_size: int, java: str = "java") -> list[str]:
    """The ``java`` command line that runs ``CassandraDaemon`` for ``node``."""
    jamm = sorted(lib.glob("jamm-*.jar"))
    agent = [f"-javaagent:{jamm[0]}"] if jamm else []
    system_rf = str(min(cluster_size, 3))
    heap = f"{node.heap_mb}m"
    d = node.node_dir
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xss256k",
        "-XX:+UseG1GC",
        "-XX:+ParallelRefProcEnabled",
        "-XX:MaxGCPauseMillis=300",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-UsePerfData",
        "-Djava.net.preferIPv4Stack=true",
        *agent,
        *JAVA17_FLAGS,
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.config=file://{node.yaml_path}",
        f"-Dcassandra.storagedir={d}",
        f"-Dcassandra.logdir={node.log_dir}",
        f"-Dlogback.configurationFile={node.logback_path}",
        *([f"-Dcassandra-rackdc.properties=file://{node.rackdc_path}"] if node.datacenter
          else []),
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=10000",  # bounds the shadow gossip round on a busy box
        "-Dcassandra.consistent.rangemovement=false",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-Dcassandra.shutdown_announce_in_ms=500",
        "-Dcassandra.unsafesystem=true",
        "-Dcassandra.available_processors=2",
        f"-Dcassandra.system_distributed.default_rf={system_rf}",
        f"-Dcassandra.system_traces.default_rf={min(cluster_size, 2)}",
        f"-Dcassandra.system_auth.default_rf={system_rf}",  # roles survive one node down
        "-cp",
        f"{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


def write_node_files(node: NodeSpec, security_yaml: str = "") -> None:
    """Create the node's folders and write its yaml (plus ``security_yaml``, see
    :mod:`cluster.cassandra_security`) and logback.xml."""
    for sub in ("conf", "data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs"):
        (node.node_dir / sub).mkdir(parents=True, exist_ok=True)
    node.yaml_path.write_text(render_yaml(node) + security_yaml)
    node.logback_path.write_text(render_logback(node))
    if node.datacenter:
        node.rackdc_path.write_text(f"dc={node.datacenter}\nrack=rack1\n")

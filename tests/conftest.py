"""Shared test fixtures: a fresh Cassandra keyspace per test session, the session's one
local Ray cluster, and CDR builders.

Tests that need Ray ask for ``ray_driver``: a fresh driver job (its own namespace) on the
session's one local Ray cluster (``ray_cluster``, a head node started on first use and
stopped after the last test that uses it). Ending the job at the end of the module ends every
actor the module started, so modules share the cluster without sharing actors or names. A
module that needs more nodes calls ``ray_driver.ensure_workers(n)``; a test that kills a node
kills one of those workers, never the head.

Tests that need Cassandra ask for ``cassandra_settings`` (or ``cassandra_session``). The node
is the one ``python -m cluster.cassandra up`` starts (``make test`` does it); its address is
``FABRIC_TEST_CASSANDRA`` (default ``127.0.0.1:9042``). Each test session gets its own
keyspace ``callfabric_test_<random>`` with the schema applied, dropped at the end. An
unreachable node fails the test with the command to run: it is never skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fabric.cdr import Cdr, Direction, Disposition
from fabric.config import StorageSettings


def _cassandra_address() -> tuple[str, int]:
    value = os.environ.get("FABRIC_TEST_CASSANDRA", "127.0.0.1:9042")
    host, _, port = value.rpartition(":")
    return (host or value), int(port or 9042)


def cassandra_security() -> dict[str, Any]:
    """``storage.*`` settings that log in to the test node (role, password file, CA), read
    from the launcher's folder ``FABRIC_TEST_CASSANDRA_DIR`` (default ``.run/cassandra``);
    {} for a node started without security."""
    from cluster.cassandra import DEFAULT_DIR
    from cluster.cassandra_security import client_settings

    return client_settings(Path(os.environ.get("FABRIC_TEST_CASSANDRA_DIR", DEFAULT_DIR)))


@pytest.fixture(scope="session")
def cassandra_address() -> tuple[str, int]:
    """(host, port) of the test Cassandra node; fails clearly when it does not answer."""
    from cluster.cassandra import cql_ready

    host, port = _cassandra_address()
    ca_file = cassandra_security().get("cassandra_ca_file")
    if not cql_ready(host, port, timeout=5.0, ca_file=Path(ca_file) if ca_file else None):
        pytest.fail(
            f"Cassandra does not answer CQL at {host}:{port} (FABRIC_TEST_CASSANDRA). Start it "
            "with `python -m cluster.cassandra up` (or run `make test`, which does).",
            pytrace=False,
        )
    return host, port


@contextlib.contextmanager
def fresh_keyspace(
    cassandra_address: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageSettings]:
    """StorageSettings for a fresh keyspace with the schema applied; dropped at the end."""
    from fabric.storage.cassandra_session import connect_sync
    from fabric.storage.schema import apply_schema, drop_keyspace

    host, port = cassandra_address
    keyspace = f"callfabric_test_{uuid.uuid4().hex[:10]}"
    settings = StorageSettings(
        backend="cassandra",
        cassandra_hosts=[host],
        cassandra_port=port,
        keyspace=keyspace,
        replication_factor=1,
        consistency="LOCAL_QUORUM",
        data_dir=tmp_path_factory.mktemp("storage-data"),
        spool_dir=tmp_path_factory.mktemp("storage-spool"),
        **cassandra_security(),
    )
    conn = connect_sync(settings, use_keyspace=False)
    try:
        apply_schema(conn.session, keyspace, replication_factor=1, datacenter=settings.datacenter)
        yield settings
    finally:
        try:
            drop_keyspace(conn.session, keyspace)
        finally:
            conn.shutdown()


@pytest.fixture(scope="session")
def cassandra_settings(
    cassandra_address: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageSettings]:
    """The session's keyspace (fresh, schema applied, dropped at the end)."""
    with fresh_keyspace(cassandra_address, tmp_path_factory) as settings:
        yield settings


@pytest.fixture(scope="module")
def own_cassandra_settings(
    cassandra_address: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageSettings]:
    """A keyspace of the module's own, for tests whose vault root key must wrap every key
    in it (the session keyspace holds keys other tests wrapped under their root keys)."""
    with fresh_keyspace(cassandra_address, tmp_path_factory) as settings:
        yield settings


@pytest.fixture(scope="session")
def cassandra_session(cassandra_settings: StorageSettings) -> Iterator[Any]:
    """A driver session on the test keyspace, for tests that look at raw rows."""
    from fabric.storage.cassandra_session import connect_sync

    conn = connect_sync(cassandra_settings)
    try:
        yield conn.session
    finally:
        conn.shutdown()


@pytest.fixture()
def embedded_settings(tmp_path: Path) -> StorageSettings:
    """StorageSettings of the embedded (SQLite) backend in a fresh folder."""
    return StorageSettings(
        backend="embedded", data_dir=tmp_path / "data", spool_dir=tmp_path / "spool"
    )


log = logging.getLogger(__name__)
_RAY: list[Any] = []  # the session's LocalRayCluster, once started


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """The session's one local Ray cluster (a head node; modules add the workers they need)."""
    from cluster.ray_local import LocalRayCluster

    cluster = LocalRayCluster(nodes=1, cpus_per_node=1)
    log.info("starting the test session's local Ray cluster")
    cluster.start()
    _RAY.append(cluster)
    try:
        yield cluster
    finally:
        _stop_ray()


@pytest.fixture(scope="module")
def ray_driver(ray_cluster: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh Ray job and namespace for the module on the shared cluster; ended after it."""
    import ray

    module = request.module.__name__.rpartition(".")[2]
    ray_cluster.connect_driver(f"{module}-{uuid.uuid4().hex[:6]}")
    try:
        yield ray_cluster
    finally:
        ray.shutdown()  # ends the job: every actor the module left behind goes with it


def _stop_ray() -> None:
    while _RAY:
        _RAY.pop().stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Stop the shared Ray cluster after the last test that uses it (not at session end)."""
    yield
    if not _RAY or (nextitem is not None and nextitem.path == item.path):
        return
    items = item.session.items
    later = items[items.index(item) + 1:]
    if not any("ray_cluster" in getattr(i, "fixturenames", ()) for i in later):
        _stop_ray()


CdrFactory = Callable[..., Cdr]

BASE_TIME = datetime(2026, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)


def build_cdr(**overrides: Any) -> Cdr:
    """A valid answered CDR; keyword arguments replace fields (call_id is random)."""
    start = overrides.pop("start_time", BASE_TIME)
    values: dict[str, Any] = {
        "call_id": f"call-{uuid.uuid4().hex}",
        "tenant_id": "tenant-a",
        "from_number": "+14155550100",
        "to_number": "+442071838750",
        "direction": Direction.OUTBOUND,
        "start_time": start,
        "answer_time": start + timedelta(seconds=4),
        "end_time": start + timedelta(seconds=65),
        "duration_s": 65,
        "billable_s": 61,
        "disposition": Disposition.ANSWERED,
        "hangup_cause": "normal-clearing",
        "recorded": False,
        "recording_consent": "",
        "packets_sent": 3050,
        "packets_received": 3041,
        "packets_lost": 9,
        "jitter_ms": 3.25,
        "node_ids": ["node-1"],
    }
    values.update(overrides)
    return Cdr(**values)


@pytest.fixture()
def make_cdr() -> CdrFactory:
    """Build a valid CDR, overriding any field: ``make_cdr(tenant_id="t2")``."""
    return build_cdr


class PrivateCassandra:
    """A Cassandra cluster of the test's own (own folder and loopback addresses).

    For tests that stop and start nodes, so the shared dev node is never disturbed. Every
    node is stopped at teardown, also when the test fails.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.layout: Any = None

    def up(self, first_address: str, nodes: int = 1, heap_mb: int = 512,
           datacenters: list[str] | None = None) -> list[str]:
        """Start the cluster (``datacenters``: one per node, e.g. ["us", "eu"]); return the
        node addresses."""
        from cluster.cassandra import ClusterLayout, consecutive_addresses, up

        self.layout = ClusterLayout(
            base_dir=self.base_dir,
            addresses=consecutive_addresses(first_address, nodes),
            heap_mb=heap_mb,
            datacenters=datacenters or [],
        )
        up(self.layout)
        return list(self.layout.addresses)

    def stop(self, index: int) -> None:
        """Stop node ``index`` (1-based) cleanly."""
        from cluster.cassandra_process import stop_node

        stop_node(self.layout.nodes[index - 1])

    def start(self, index: int) -> float:
        """Start node ``index`` again and wait for CQL; return the seconds it took."""
        from cluster.cassandra import start_node, wait_ready
        from cluster.cassandra_jars import ensure_jars

        node = self.layout.nodes[index - 1]
        start_node(node, ensure_jars(), len(self.layout.nodes))
        return wait_ready(node)

    def client_settings(self) -> dict[str, Any]:
        """The ``storage.*`` settings that log in to this cluster (role, password, CA)."""
        from cluster.cassandra_security import client_settings

        return client_settings(self.base_dir)

    def down(self) -> None:
        """Stop every node."""
        from cluster.cassandra import down

        down(self.base_dir)


@pytest.fixture()
def private_cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCassandra]:
    """Start-your-own Cassandra (see :class:`PrivateCassandra`); always stopped afterwards."""
    cluster = PrivateCassandra(tmp_path_factory.mktemp("cassandra"))
    try:
        yield cluster
    finally:
        cluster.down()

"""The Cassandra launcher's pure parts: node layout, yaml, JVM command, schema files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.cassandra import ClusterLayout, LauncherError, consecutive_addresses, main, status
from cluster.cassandra_config import balanced_tokens, java_command, node_specs, render_yaml
from fabric.storage.schema import (
    SchemaError,
    _qualify,
    _split_statements,
    check_keyspace_name,
    create_keyspace_cql,
    load_migrations,
)


def test_consecutive_loopback_addresses():
    assert consecutive_addresses("127.0.0.11", 3) == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    with pytest.raises(LauncherError):
        consecutive_addresses("10.0.0.1", 1)
    with pytest.raises(LauncherError):
        consecutive_addresses("127.0.0.253", 3)


def test_tokens_are_balanced_and_distinct():
    tokens = balanced_tokens(3)
    assert tokens == [-9223372036854775808, -3074457345618258603, 3074457345618258602]
    assert balanced_tokens(1) == [-(2**63)]


def test_each_node_has_its_own_address_dirs_and_token(tmp_path: Path):
    nodes = node_specs(tmp_path, ["127.0.0.11", "127.0.0.12", "127.0.0.13"], heap_mb=512)
    assert [n.address for n in nodes] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert len({n.node_dir for n in nodes}) == 3
    assert all(n.seeds == "127.0.0.11" for n in nodes)
    yaml = render_yaml(nodes[1])
    assert "listen_address: 127.0.0.12" in yaml
    assert "rpc_address: 127.0.0.12" in yaml
    assert f"initial_token: '{nodes[1].token}'" in yaml
    assert f"{nodes[1].node_dir}/commitlog" in yaml
    assert 'seeds: "127.0.0.11:7000"' in yaml
    assert "auto_bootstrap: false" in yaml


def test_jvm_command_is_small_and_quiet(tmp_path: Path):
    (tmp_path / "jamm-0.4.0.jar").touch()
    (node,) = node_specs(tmp_path, ["127.0.0.1"], heap_mb=768)
    cmd = java_command(node, tmp_path, 1)
    assert "-Xmx768m" in cmd and "-Xms768m" in cmd
    assert f"-javaagent:{tmp_path}/jamm-0.4.0.jar" in cmd
    assert f"-Dlogback.configurationFile={node.logback_path}" in cmd
    assert "-Dcassandra.system_distributed.default_rf=1" in cmd
    assert cmd[-1] == "org.apache.cassandra.service.CassandraDaemon"
    assert not any(arg.startswith("-Dcassandra.jmx") for arg in cmd)


def test_layout_roundtrips_through_cluster_json(tmp_path: Path):
    layout = ClusterLayout(tmp_path, ["127.0.0.21", "127.0.0.22"], 9142, 7100, 512)
    layout.save()
    assert ClusterLayout.load(tmp_path) == layout
    assert ClusterLayout.load(tmp_path / "none") is None


def test_status_of_an_empty_folder(tmp_path: Path, capsys):
    assert status(tmp_path) == []
    assert main(["status", "--dir", str(tmp_path)]) == 3
    assert "no cluster" in capsys.readouterr().out
    assert main(["down", "--dir", str(tmp_path)]) == 0


def test_status_reports_a_node_that_is_not_running(tmp_path: Path, capsys):
    ClusterLayout(tmp_path, ["127.0.0.31"]).save()
    (node_status,) = status(tmp_path)
    assert node_status.state == "DOWN" and node_status.pid is None
    assert main(["status", "--dir", str(tmp_path)]) == 3
    assert "DOWN" in capsys.readouterr().out


def test_migrations_are_ordered_and_idempotent_statements():
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    for migration in migrations:
        for statement in migration.statements:
            assert "IF NOT EXISTS" in statement.upper()
    cdr = "\n".join(migrations[0].statements)
    assert "TimeWindowCompactionStrategy" in cdr
    assert "default_time_to_live = 220924800" in cdr
    assert "PRIMARY KEY ((tenant_id, day), start_time, call_id)" in cdr


def test_statements_are_split_and_qualified_with_the_keyspace():
    text = "-- comment; with a semicolon\nCREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY);\n"
    (statement,) = _split_statements(text)
    assert _qualify(statement, "ks").startswith("CREATE TABLE IF NOT EXISTS ks.t ")
    assert _qualify("CREATE TABLE IF NOT EXISTS other.t (a int)", "ks").count("ks.") == 0


def test_keyspace_and_replication_are_checked():
    cql = create_keyspace_cql("callfabric", 3, "dc1")
    assert "'class': 'NetworkTopologyStrategy', 'dc1': 3" in cql
    for bad in ("Bad-Name", "1abc", "x; DROP KEYSPACE y"):
        with pytest.raises(SchemaError):
            check_keyspace_name(bad)
    with pytest.raises(SchemaError):
        create_keyspace_cql("ok", 0, "dc1")


def test_two_data_centres_name_each_nodes_dc(tmp_path: Path):
    from cluster.cassandra_config import write_node_files

    layout = ClusterLayout(base_dir=tmp_path, addresses=["127.0.0.91", "127.0.0.92"],
                           datacenters=["us", "eu"])
    layout.save()
    assert ClusterLayout.load(tmp_path) == layout
    us, eu = layout.nodes
    assert (us.datacenter, eu.datacenter) == ("us", "eu")
    write_node_files(eu)
    assert eu.rackdc_path.read_text() == "dc=eu\nrack=rack1\n"
    yaml = render_yaml(eu)
    assert "endpoint_snitch: GossipingPropertyFileSnitch" in yaml
    assert "auth_read_consistency_level: ONE" in yaml
    assert f"-Dcassandra-rackdc.properties=file://{eu.rackdc_path}" in java_command(
        eu, tmp_path, 2)
    single = node_specs(tmp_path, ["127.0.0.1"])[0]
    assert "endpoint_snitch: SimpleSnitch" in render_yaml(single)
    assert "auth_read_consistency_level" not in render_yaml(single)
    with pytest.raises(ValueError, match="one data centre per node"):
        node_specs(tmp_path, ["127.0.0.1", "127.0.0.2"], datacenters=["us"])
    assert main(["up", "--dir", str(tmp_path / "x"), "--nodes", "2", "--dcs", "us"]) != 0

"""Cassandra takes no anonymous client: the launcher's node requires TLS and a password role.

Runs on a private node (127.0.0.71, its own folder) so the shared dev node is untouched.
"""

from __future__ import annotations

import asyncio
import stat

import pytest
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from cluster.cassandra_security import CassandraSecurity, ssl_context
from fabric.config import StorageSettings
from fabric.storage.cassandra_session import connect_sync

pytestmark = pytest.mark.cassandra


def _refusal(address: str, **options: object) -> BaseException:
    cluster = Cluster([address], protocol_version=4, connect_timeout=5,
                      control_connection_timeout=5, **options)  # type: ignore[arg-type]
    try:
        cluster.connect()
    except NoHostAvailable as exc:
        (error,) = exc.errors.values()
        return error
    finally:
        cluster.shutdown()
    raise AssertionError(f"Cassandra at {address} accepted a session with {options}")


async def test_cql_sessions_need_tls_and_a_password_role(private_cassandra) -> None:
    (address,) = await asyncio.to_thread(private_cassandra.up, "127.0.0.71", 1, 512)
    sec = CassandraSecurity(private_cassandra.base_dir)
    assert stat.S_IMODE(sec.password_file.stat().st_mode) == 0o600
    password = sec.password_file.read_text().strip()

    # plaintext: the node speaks TLS only
    plain = await asyncio.to_thread(_refusal, address)
    assert not isinstance(plain, AuthenticationFailed)
    # TLS without credentials, with a wrong password, with the built-in default role
    tls = {"ssl_context": ssl_context(sec.ca_file)}
    anonymous = await asyncio.to_thread(_refusal, address, **tls)
    assert isinstance(anonymous, AuthenticationFailed)
    for user, pw in (("callfabric", "not-the-password"), ("cassandra", "cassandra")):
        refused = await asyncio.to_thread(
            _refusal, address, auth_provider=PlainTextAuthProvider(user, pw), **tls)
        assert isinstance(refused, AuthenticationFailed), (user, refused)

    # the stores' settings (role, password file, CA) get in
    settings = StorageSettings(backend="cassandra", cassandra_hosts=[address],
                               **private_cassandra.client_settings())
    assert settings.cassandra_password_file == str(sec.password_file)
    conn = await asyncio.to_thread(connect_sync, settings, use_keyspace=False)
    try:
        row = conn.session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version.startswith("5.0")
    finally:
        conn.shutdown()
    assert password not in (private_cassandra.base_dir / "node1" / "conf" / "cassandra.yaml"
                            ).read_text()

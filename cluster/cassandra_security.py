"""Who may talk to a local Cassandra cluster, and over what: password roles and TLS.

The launcher never runs a node that takes any client. Every node it starts has:

- ``PasswordAuthenticator``: the fabric logs in as the role ``callfabric`` (a superuser: it
  creates and drops keyspaces), whose random password is made on first run in
  ``<dir>/secrets/password`` (mode 0600). The built-in ``cassandra``/``cassandra`` role is
  given a random password and loses LOGIN as soon as ours exists.
- client-to-node TLS, required (``optional: false``): a certificate for every node's
  address signed by a development CA in ``<dir>/tls`` (made on first run with
  :mod:`fabric.edge.tls`), read by Cassandra's ``PEMBasedSslContextFactory``; clients
  verify the node against ``<dir>/tls/ca.pem``.
- with more than one node, internode encryption (``internode_encryption: all``) with the
  same certificate and mutual authentication between nodes.

Each node records what it was started with in ``<node dir>/security.json``;
:func:`client_settings` turns that into the ``storage.*`` settings a client needs (tests use
it to reach ``make test``'s node). A node started by an older launcher has no such file
and is reached as before, without credentials.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.edge.tls import ensure_node_cert

ROLE = "callfabric"
DEFAULT_ROLE = "cassandra"
CERT_NAME = "cassandra"
MARKER = "security.json"
ROLE_SETUP_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class CassandraSecurity:
    """The security material of one local cluster folder."""

    base_dir: Path

    @property
    def password_file(self) -> Path:
        """The ``callfabric`` role's password (mode 0600)."""
        return self.base_dir / "secrets" / "password"

    @property
    def tls_dir(self) -> Path:
        """Development CA and the nodes' certificate."""
        return self.base_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The CA clients verify nodes against."""
        return self.tls_dir / "ca.pem"

    @property
    def keystore_file(self) -> Path:
        """The nodes' private key followed by their certificate (PEM keystore, mode 0600)."""
        return self.tls_dir / f"{CERT_NAME}-keystore.pem"

    def client_settings(self) -> dict[str, Any]:
        """``storage.*`` settings that log in as ``callfabric`` over TLS."""
        return {
            "cassandra_username": ROLE,
            "cassandra_password_file": str(self.password_file),
            "cassandra_ca_file": str(self.ca_file),
        }


def _write_secret(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure_material(base_dir: Path, addresses: list[str]) -> CassandraSecurity:
    """Make the password, CA, node certificate and PEM keystore on first use."""
    sec = CassandraSecurity(base_dir)
    if not sec.password_file.exists():
        _write_secret(sec.password_file, secrets.token_urlsafe(32))
    cert = ensure_node_cert(sec.tls_dir, CERT_NAME, addresses)
    if not sec.keystore_file.exists():
        _write_secret(sec.keystore_file, cert.key_path.read_text() + cert.cert_path.read_text())
    return sec


def _tls_yaml(sec: CassandraSecurity) -> str:
    return (
        "        ssl_context_factory:\n"
        "            class_name: org.apache.cassandra.security.PEMBasedSslContextFactory\n"
        f"        keystore: {sec.keystore_file}\n"
        f"        truststore: {sec.ca_file}\n"
    )


def security_yaml(sec: CassandraSecurity, cluster_size: int) -> str:
    """cassandra.yaml lines: authentication, client TLS, and internode TLS for a cluster."""
    lines = (
        "authenticator: PasswordAuthenticator\n"
        "authorizer: CassandraAuthorizer\n"
        "role_manager: CassandraRoleManager\n"
        "credentials_validity: 0ms\n"  # a changed password takes effect at the next login
        "client_encryption_options:\n"
        "        enabled: true\n"
        "        optional: false\n"
        "        require_client_auth: false\n"
        + _tls_yaml(sec)
    )
    if cluster_size > 1:
        lines += (
            "server_encryption_options:\n"
            "        internode_encryption: all\n"
            "        require_client_auth: true\n"
            "        require_endpoint_verification: false\n"
            + _tls_yaml(sec)
            + f"        outbound_keystore: {sec.keystore_file}\n"
        )
    return lines


def write_marker(node_dir: Path, sec: CassandraSecurity) -> None:
    """Record in the node's folder that it runs with password roles and TLS."""
    (node_dir / MARKER).write_text(json.dumps(sec.client_settings(), indent=2) + "\n")


def client_settings(base_dir: Path) -> dict[str, Any]:
    """``storage.*`` settings for the cluster in ``base_dir`` as its seed node was started
    ({} for a node started without security by an older launcher)."""
    marker = base_dir / "node1" / MARKER
    if not marker.exists():
        return {}
    data: dict[str, Any] = json.loads(marker.read_text())
    return data


def ssl_context(ca_file: Path) -> Any:
    """A client TLS context that verifies the node against ``ca_file`` (name and chain)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _session_as(address: str, port: int, sec: CassandraSecurity, user: str, password: str,
                **options: Any) -> tuple[Any, Any]:
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    cluster = Cluster([address], port=port, protocol_version=4,
                      auth_provider=PlainTextAuthProvider(user, password),
                      ssl_context=ssl_context(sec.ca_file), connect_timeout=10, **options)
    try:
        return cluster, cluster.connect()
    except BaseException:
        cluster.shutdown()
        raise


def admin_session(address: str, port: int, sec: CassandraSecurity,
                  **options: Any) -> tuple[Any, Any]:
    """(cluster, session) logged in as ``callfabric``, or as the default role before ours
    exists (a first start); raises the driver's error when neither logs in."""
    from cassandra import AuthenticationFailed
    from cassandra.cluster import NoHostAvailable

    try:
        return _session_as(address, port, sec, ROLE, sec.password_file.read_text().strip(),
                           **options)
    except (NoHostAvailable, AuthenticationFailed):
        return _session_as(address, port, sec, DEFAULT_ROLE, DEFAULT_ROLE, **options)


def ensure_role(address: str, port: int, sec: CassandraSecurity,
                timeout: float = ROLE_SETUP_TIMEOUT_S) -> None:
    """Create the ``callfabric`` role once and retire the default ``cassandra`` login.

    Cassandra creates the default role in the background after the first start (retrying
    until a quorum of the ring is up), so every step is retried until ``timeout``.
    """
    password = sec.password_file.read_text().strip()
    deadline = time.monotonic() + timeout
    while True:
        try:
            _ensure_role_once(address, port, sec, password)
            return
        except Exception as exc:  # not up yet: no default role, Unavailable, ...
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not set up the {ROLE} role on {address}:{port} "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            time.sleep(1.0)


def _ensure_role_once(address: str, port: int, sec: CassandraSecurity, password: str) -> None:
    cluster, session = admin_session(address, port, sec)
    try:
        row = session.execute(
            "SELECT can_login FROM system_auth.roles WHERE role = %s", (DEFAULT_ROLE,)).one()
        if row is None or not row.can_login:
            return  # ours exists and the default login is retired
        session.execute(
            f"CREATE ROLE IF NOT EXISTS {ROLE} WITH PASSWORD = %s AND LOGIN = true "
            "AND SUPERUSER = true", (password,))
    finally:
        cluster.shutdown()
    cluster, session = _session_as(address, port, sec, ROLE, password)
    try:
        session.execute(
            f"ALTER ROLE {DEFAULT_ROLE} WITH PASSWORD = %s AND LOGIN = false "
            "AND SUPERUSER = false", (secrets.token_urlsafe(32),))
    finally:
        cluster.shutdown()

"""TLS for the gRPC edge: a local development CA and a server certificate, made on first run.

A newcomer's first ``make up`` must serve TLS without any setup, so the edge makes an EC
P-256 CA and a server certificate for ``localhost`` / ``127.0.0.1`` (plus the configured
host) under ``api.tls_dir``. Private keys are written with mode 0600. Several gateway
processes may start at once: a file lock makes exactly one of them generate, the others
read. Production deployments put their own ``server.pem`` / ``server.key`` / ``ca.pem``
in the folder and nothing is generated.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
VALID_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The PEM material the server and clients need."""

    ca_cert: bytes
    server_cert: bytes
    server_key: bytes
    ca_path: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _leaf_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    common_name: str,
    hosts: list[str],
    usages: list[x509.ObjectIdentifier],
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and a certificate for it signed by the CA: named ``localhost``,
    ``127.0.0.1`` and ``hosts`` (IP or DNS names), for the extended ``usages``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _generate(folder: Path, hosts: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "call fabric development CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key, cert = _leaf_cert(
        ca_key, ca_name, "localhost", hosts, [ExtendedKeyUsageOID.SERVER_AUTH], now
    )
    _write(folder / CA_KEY, _key_pem(ca_key), 0o600)
    _write(folder / SERVER_KEY, _key_pem(key), 0o600)
    _write(folder / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(folder / SERVER_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def ensure_dev_pki(folder: Path, hosts: list[str] | None = None) -> TlsFiles:
    """Return the CA and server material in ``folder``, generating it on first use.

    A folder that already holds the server certificate and key (a Kubernetes Secret mounted
    read-only) is only read: no lock file is written there.
    """
    if not (folder / SERVER_CERT).exists() or not (folder / SERVER_KEY).exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / SERVER_CERT).exists() or not (folder / SERVER_KEY).exists():
                _generate(folder, [h for h in (hosts or []) if h not in ("0.0.0.0", "::", "")])
    return TlsFiles(
        ca_cert=(folder / CA_CERT).read_bytes(),
        server_cert=(folder / SERVER_CERT).read_bytes(),
        server_key=(folder / SERVER_KEY).read_bytes(),
        ca_path=folder / CA_CERT,
    )


@dataclass(frozen=True, slots=True)
class NodeCert:
    """Paths of a certificate (server and client use) signed by the CA, its key and the CA."""

    cert_path: Path
    key_path: Path
    ca_path: Path


def _issue_node_cert(folder: Path, name: str, hosts: list[str]) -> None:
    ca_key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{folder / CA_KEY} is not an EC key")
    ca_cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    now = dt.datetime.now(dt.UTC)
    key, cert = _leaf_cert(
        ca_key,
        ca_cert.subject,
        name,
        hosts,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    _write(folder / f"{name}.key", _key_pem(key), 0o600)
    _write(folder / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def ensure_node_cert(folder: Path, name: str, hosts: list[str] | None = None) -> NodeCert:
    """A certificate ``<name>.pem`` / ``<name>.key`` in ``folder`` for mutual TLS between
    cluster processes (Ray, Cassandra), signed by the development CA; made on first use.

    Production deployments put their own ``<name>.pem``, ``<name>.key`` and ``ca.pem`` in
    the folder (no CA key needed then) and nothing is generated.
    """
    ensure_dev_pki(folder, hosts)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / f"{name}.pem").exists() or not (folder / f"{name}.key").exists():
            if not (folder / CA_KEY).exists():
                raise FileNotFoundError(
                    f"{folder / name}.pem/.key are missing and there is no CA key to make "
                    f"them: put the certificate and key signed by {folder / CA_CERT} there"
                )
            wanted = [h for h in (hosts or []) if h not in ("0.0.0.0", "::", "")]
            _issue_node_cert(folder, name, wanted)
    return NodeCert(folder / f"{name}.pem", folder / f"{name}.key", folder / CA_CERT)

"""How the fabric arms Ray before it starts or joins it (no Ray started here): the token file
is made once with mode 0600, every Ray process inherits token mode and the file, TLS names
a node certificate signed by the CA, and a driver joining a cluster never invents a token."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cluster.ray_security import ensure_token, secure_ray
from fabric.config import RuntimeSettings

RAY_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_USE_TLS",
            "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")


@pytest.fixture(autouse=True)
def _keep_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RAY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "leaked-from-the-shell")


def test_the_token_is_made_once_and_private(tmp_path: Path) -> None:
    path = ensure_token(tmp_path / "ray" / "auth_token")
    token = path.read_text()
    assert len(token) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token(path).read_text() == token


def test_every_ray_process_gets_token_mode(tmp_path: Path) -> None:
    runtime = RuntimeSettings(ray_auth_token_file=tmp_path / "auth_token")
    secured = secure_ray(runtime)
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(secured.token_file)
    assert "RAY_AUTH_TOKEN" not in os.environ  # a token in the environment is not ours
    assert "RAY_USE_TLS" not in os.environ


def test_tls_uses_a_node_certificate_from_the_ca(tmp_path: Path) -> None:
    runtime = RuntimeSettings(ray_auth_token_file=tmp_path / "auth_token", ray_tls=True,
                              ray_tls_dir=tmp_path / "tls")
    secure_ray(runtime, ["127.0.0.1"])
    assert os.environ["RAY_USE_TLS"] == "1"
    cert = x509.load_pem_x509_certificate(Path(os.environ["RAY_TLS_SERVER_CERT"]).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(os.environ["RAY_TLS_CA_CERT"]).read_bytes())
    assert cert.issuer == ca.subject
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    key = Path(os.environ["RAY_TLS_SERVER_KEY"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_joining_driver_needs_the_clusters_token(tmp_path: Path) -> None:
    runtime = RuntimeSettings(ray_auth_token_file=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="ray_auth_token_file"):
        secure_ray(runtime, create=False)
    assert not (tmp_path / "missing").exists()


def test_every_ray_process_gets_usage_stats_off(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")
    secure_ray(RuntimeSettings(ray_auth_token_file=tmp_path / "auth_token"))
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"

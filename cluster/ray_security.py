"""Token authentication and TLS for every Ray process the fabric starts or connects to.

Ray's cluster port runs code for whoever connects, so no Ray process of ours runs without
``RAY_AUTH_MODE=token``: every raylet, worker and driver must present the cluster token
(Ray's gRPC interceptors refuse any call without it). Ray reads its whole security setup
from environment variables, which the nodes we start inherit, so :func:`secure_ray` sets
them in this process before Ray starts or connects:

- ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` = ``runtime.ray_auth_token_file``;
  the token is made on first run (256 random bits, mode 0600), like the development CA,
  or mounted there from a secret in production.
- with ``runtime.ray_tls``: ``RAY_USE_TLS=1`` and a node certificate signed by the CA in
  ``runtime.ray_tls_dir`` (server and client use, for Ray's mutual TLS).

A process that imported Ray already has cached its configuration, so the cache is
refreshed (Ray's own ``_enable_token_auth`` does the same).

Nothing leaves for third parties: :func:`secure_ray` also sets ``RAY_USAGE_STATS_ENABLED=0``
(:func:`disable_usage_stats`), which every Ray node, worker and dashboard this process starts
inherits, so Ray never reports usage statistics to ``usage-stats.ray.io`` (the privacy
policy shares data only with the sub-processors it lists).
"""

from __future__ import annotations

import fcntl
import importlib
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.config import RuntimeSettings
from fabric.edge.tls import ensure_node_cert

RAY_CERT_NAME = "ray"
USAGE_STATS_VAR = "RAY_USAGE_STATS_ENABLED"


@dataclass(frozen=True, slots=True)
class RaySecurity:
    """What :func:`secure_ray` set: the token file and, with TLS, the certificate files."""

    token_file: Path
    tls: bool
    cert_file: Path | None = None


def ensure_token(path: Path) -> Path:
    """Return ``path`` (absolute), writing a fresh random token there (mode 0600) if absent."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.parent / ".token.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists() or not path.read_text().strip():
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(tmp, path)
    return path


def disable_usage_stats() -> None:
    """Turn Ray's usage statistics off for this process and every Ray process it starts
    (Ray reads the variable when a node, worker or ``ray.init`` starts; it wins over
    Ray's config file and its default)."""
    os.environ[USAGE_STATS_VAR] = "0"


def _refresh_ray_config() -> None:
    if "ray._raylet" not in sys.modules:
        return
    raylet: Any = importlib.import_module("ray._raylet")
    raylet.Config.initialize("")
    raylet.AuthenticationTokenLoader.instance().reset_cache()


def secure_ray(
    runtime: RuntimeSettings, hosts: list[str] | None = None, *, create: bool = True
) -> RaySecurity:
    """Set Ray's token authentication (and TLS if ``runtime.ray_tls``) for this process and
    every Ray process it starts; call before Ray starts or connects. ``create=False`` (a
    driver joining a running cluster) needs the token file to exist: a fresh token could
    never match the cluster's."""
    if not create and not runtime.ray_auth_token_file.is_file():
        raise FileNotFoundError(
            f"runtime.ray_auth_token_file ({runtime.ray_auth_token_file}) does not exist: "
            "put the Ray cluster's token there (the secret its nodes were started with)"
        )
    token = ensure_token(runtime.ray_auth_token_file)
    disable_usage_stats()
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
    os.environ.pop("RAY_AUTH_TOKEN", None)
    cert = None
    if runtime.ray_tls:
        node = ensure_node_cert(runtime.ray_tls_dir.resolve(), RAY_CERT_NAME, hosts)
        os.environ["RAY_USE_TLS"] = "1"
        os.environ["RAY_TLS_SERVER_CERT"] = str(node.cert_path)
        os.environ["RAY_TLS_SERVER_KEY"] = str(node.key_path)
        os.environ["RAY_TLS_CA_CERT"] = str(node.ca_path)
        cert = node.cert_path
    else:
        for name in ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY",
                     "RAY_TLS_CA_CERT"):
            os.environ.pop(name, None)
    _refresh_ray_config()
    return RaySecurity(token_file=token, tls=runtime.ray_tls, cert_file=cert)

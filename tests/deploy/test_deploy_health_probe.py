"""``python -m cluster.health`` (image HEALTHCHECK, helm test hook) against a real gRPC server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cluster.health import main
from cluster.ports import free_tcp_port
from fabric.edge.tls import ensure_dev_pki


@pytest.fixture()
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path, health.aio.HealthServicer]]:
    pki = ensure_dev_pki(tmp_path / "tls")
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = free_tcp_port()
    server.add_secure_port(
        f"127.0.0.1:{port}", grpc.ssl_server_credentials([(pki.server_key, pki.server_cert)])
    )
    await server.start()
    try:
        yield port, pki.ca_path, servicer
    finally:
        await server.stop(None)


async def test_probe_exits_zero_only_while_serving(tls_server, capsys) -> None:  # type: ignore[no-untyped-def]
    port, ca, servicer = tls_server
    args = ["--target", f"localhost:{port}", "--ca", str(ca)]
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert await _run(args) == 0
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert await _run(args) == 1
    assert "NOT_SERVING" in capsys.readouterr().err


async def test_probe_fails_on_plaintext_to_tls_and_on_no_server(tls_server) -> None:  # type: ignore[no-untyped-def]
    port, _, servicer = tls_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert await _run(["--target", f"localhost:{port}", "--plaintext", "--timeout", "1"]) == 1
    closed = free_tcp_port()
    assert await _run(["--target", f"localhost:{closed}", "--plaintext", "--timeout", "1"]) == 1


def test_mounted_read_only_material_is_read_without_a_lock_file(tmp_path: Path) -> None:
    made = ensure_dev_pki(tmp_path / "made")
    secret = tmp_path / "secret"  # what a Kubernetes Secret volume holds: no CA key, no lock
    secret.mkdir()
    for name in ("ca.pem", "server.pem", "server.key"):
        shutil.copy(tmp_path / "made" / name, secret / name)
    got = ensure_dev_pki(secret)
    assert got.server_cert == made.server_cert
    assert sorted(p.name for p in secret.iterdir()) == ["ca.pem", "server.key", "server.pem"]


async def _run(args: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, args)

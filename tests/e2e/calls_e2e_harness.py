"""Harness of the call-control e2e tests: start a fabric (media relays, actor hosts, gateway
with the gRPC API over TLS and the media-timeout watch, the CDR store) on the session's local
Ray cluster (``ray_driver``, tests/conftest.py) and reach it with the SDK.

The relays get a UDP range of their own (clear of other suites' relays) and a short media
timeout, so a test can watch a silent phone's call end in seconds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from actors.wiring import ACTOR_TYPES, GATEWAY_SERVICES, SERVICES
from cluster.ports import free_tcp_port
from cluster.ray_local import LocalRayCluster
from fabric.client import FabricClient
from fabric.client.bootstrap import create_carrier_admin
from fabric.config import (
    ApiSettings,
    FabricSettings,
    MediaSettings,
    MetricsSettings,
    RuntimeSettings,
)
from fabric.media.relay_actor import MediaControl, start_media, stop_media
from fabric.storage.base import CdrStore
from fabric.storage.factory import Stores, open_stores
from fabric.testing import eventually

ROOT = Path(__file__).resolve().parents[2]
MEDIA_PORTS = (21000, 21999)  # below the ephemeral range Ray draws from
MEDIA_TIMEOUT_S = 3.0


def free_port() -> int:
    """An unused TCP port on loopback, outside the range Ray picks its own ports from."""
    return free_tcp_port()


@dataclass
class E2EFabric:
    """A running fabric and how to reach it."""

    settings: FabricSettings
    system: object
    cluster: LocalRayCluster
    target: str
    ca_file: Path
    operator_token: str  # a named carrier-admin's key (made with the bootstrap token)
    cdrs: CdrStore
    media: MediaControl
    stores: Stores  # the driver's own set (cdrs is its CDR store), closed by stop_fabric
    bootstrap_token: str = ""  # the operator token file's: it only manages operators

    def client(self, token: str | None = None) -> FabricClient:
        """An SDK client (TLS, the development CA) with ``token`` (default: the
        carrier-admin)."""
        return FabricClient(self.target, token or self.operator_token, ca_file=self.ca_file)


async def wait_serving(target: str, ca_file: Path, timeout_s: float = 120.0) -> None:
    """Poll the standard health service until it answers SERVING."""
    creds = grpc.ssl_channel_credentials(ca_file.read_bytes())
    async with grpc.aio.secure_channel(target, creds) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, timeout_s, 0.2, what=f"the API at {target} SERVING",
                         retry_on=(grpc.aio.AioRpcError,))


async def start_fabric(
    storage: object, run_dir: Path, cluster: LocalRayCluster, *, nodes: int = 1,
    hosts_per_node: int = 1
) -> tuple[E2EFabric, LocalRayCluster]:
    """Start the relays, actor hosts and gateways on ``cluster`` (its driver connected),
    with at least ``nodes`` nodes; wait for the API."""
    from fabric.systems import RayActorSystem

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    port = free_port()
    settings = FabricSettings(
        storage=storage,  # type: ignore[arg-type]
        api=ApiSettings(
            port=port, tls_dir=run_dir / "tls", operator_token_file=run_dir / "operator.token",
            # scenarios dial in bursts from one key and try many bad keys from one address;
            # the per-key rate and the backoff have their own tests (tests/security)
            dials_per_s_per_key=1000.0, dial_burst=1000, auth_failures_free=1_000_000,
        ),
        runtime=RuntimeSettings(hosts_per_node=hosts_per_node, reminder_poll_s=0.25),
        metrics=MetricsSettings(port=0),
        media=MediaSettings(
            port_min=MEDIA_PORTS[0], port_max=MEDIA_PORTS[1], media_timeout_s=MEDIA_TIMEOUT_S
        ),
    )
    cluster.ensure_workers(nodes - 1)
    # before the hosts (they look relays up); with the stores' settings the relays can record
    media = await start_media(settings.media, storage=settings.storage, vault=settings.vault)
    system = await RayActorSystem.start(
        settings,
        actor_types=ACTOR_TYPES,
        services=SERVICES,
        gateway_services=GATEWAY_SERVICES,
    )
    target = f"localhost:{port}"
    ca = run_dir / "tls" / "ca.pem"
    stores = await open_stores(settings.storage)
    await wait_serving(target, ca)
    bootstrap = (run_dir / "operator.token").read_text().strip()
    async with FabricClient(target, bootstrap, ca_file=ca) as client:  # as make up does
        _, carrier_admin = await create_carrier_admin(client, "e2e carrier-admin")
    fabric = E2EFabric(
        settings=settings,
        system=system,
        cluster=cluster,
        target=target,
        ca_file=ca,
        operator_token=carrier_admin,
        cdrs=stores.cdr,
        media=media,
        stores=stores,
        bootstrap_token=bootstrap,
    )
    return fabric, cluster


async def restart_system(fabric: E2EFabric) -> None:
    """Stop the actor system and start a new one on the same Ray cluster and settings."""
    from fabric.systems import RayActorSystem

    await fabric.system.stop()  # type: ignore[attr-defined]
    fabric.system = await RayActorSystem.start(
        fabric.settings,
        actor_types=ACTOR_TYPES,
        services=SERVICES,
        gateway_services=GATEWAY_SERVICES,
    )
    await wait_serving(fabric.target, fabric.ca_file)


async def stop_fabric(fabric: E2EFabric) -> None:
    """Stop the actor system, the CDR store and the relays (the Ray cluster stays up)."""
    try:
        await fabric.system.stop()  # type: ignore[attr-defined]
    finally:
        await fabric.stores.close()
        await stop_media(fabric.media)



"""Assembling the gRPC server: TLS, the edge interceptor, health and reflection.

Reflection lists and describes only the public services and health
(:mod:`fabric.edge.reflection`); health implements Check, Watch and List.

``SO_REUSEPORT`` is on (gRPC's default on Linux), so every gateway process of a node can
bind the same API port and the kernel spreads connections across them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as _AsyncHealthServicer

from fabric.config import ApiSettings
from fabric.edge.interceptor import EdgeInterceptor
from fabric.edge.reflection import (
    ReflectionIndex,
    file_proto,
    public_api_files,
    reflection_handlers,
)
from fabric.edge.tls import ensure_dev_pki

Registrar = Callable[[grpc.aio.Server], None]

SERVER_OPTIONS = [
    ("grpc.so_reuseport", 1),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 1 << 20),
]


class HealthServicer(_AsyncHealthServicer):
    """grpcio-health-checking's async servicer, plus the List method its proto declares."""

    async def List(  # noqa: N802 - the gRPC method's name
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        """Every service with a known status (the empty name is the server as a whole)."""
        response = health_pb2.HealthListResponse()
        for name, status in self._server_status.items():
            response.statuses[name].status = status
        return response


class EdgeServer:
    """A started gRPC server with its health servicer and bound port."""

    def __init__(self, server: grpc.aio.Server, health: HealthServicer, port: int) -> None:
        self.server = server
        self.health = health
        self.port = port

    async def stop(self, grace_s: float = 2.0) -> None:
        """Report NOT_SERVING, then stop, letting in-flight RPCs finish for ``grace_s``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_server(
    settings: ApiSettings,
    interceptor: EdgeInterceptor,
    registrars: Sequence[Registrar],
    service_names: Sequence[str],
) -> EdgeServer:
    """Build, bind and start the server; ``service_names`` are the full names served."""
    options = [*SERVER_OPTIONS, ("grpc.max_concurrent_streams", settings.max_concurrent_streams)]
    server = grpc.aio.server(interceptors=[interceptor], options=options)
    for register in registrars:
        register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    index = ReflectionIndex(
        [*public_api_files(), file_proto(health_pb2.DESCRIPTOR.serialized_pb)],
        [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
    )
    server.add_generic_rpc_handlers(reflection_handlers(index))
    address = f"{settings.host}:{settings.port}"
    if settings.tls:
        pki = ensure_dev_pki(settings.tls_dir, [settings.host])
        creds = grpc.ssl_server_credentials([(pki.server_key, pki.server_cert)])
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    await server.start()
    for name in service_names:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    return EdgeServer(server, health, port)

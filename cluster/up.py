"""``make up``: the whole fabric on this machine, in the foreground, until Ctrl-C.

It starts a local Ray node (``cluster.ray_local``), the SRTP media relays (one per node,
``media.*`` settings; started before the actor hosts, which find them by name), the
virtual actor hosts with the call control actors, one gateway host serving the gRPC API
(TLS with a development CA made on first run) and watching media timeouts, the embedded
store (``storage.backend = "embedded"``: SQLite under ``.run/data``, no JVM; set
``FABRIC_STORAGE__BACKEND=cassandra`` for a Cassandra node), and a Prometheus endpoint
that merges every process's metrics (relays included). Once the API serves, it makes (or
reuses) the local user's named carrier-admin with the operator token, the bootstrap
credential (``fabric.client.bootstrap``), and records where the fabric and that key are for
the CLI. It prints how to connect, then waits; Ctrl-C (or SIGTERM) stops everything it
started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from actors.metrics_export import MergedMetrics, gather_texts
from actors.wiring import ACTOR_TYPES, GATEWAY_SERVICES, SERVICES
from cluster.ray_local import LocalRayCluster
from cluster.ray_security import secure_ray
from fabric.client.bootstrap import carrier_admin_key_file, ensure_carrier_admin
from fabric.client.cli.profiles import LocalFabric, local_fabric_file, record_local_fabric
from fabric.config import FabricSettings, load_settings
from fabric.errors import FabricError
from fabric.media.relay_actor import start_media, stop_media

log = logging.getLogger("fabric.up")
ROOT = Path(__file__).resolve().parent.parent
METRICS_REFRESH_S = 5.0
DEMO_DIR = Path(".run/demo")  # the banner's test WAVs: ignored by git, not the repository root


def already_running(settings: FabricSettings) -> str:
    """Why this machine cannot start another local fabric ('' if it can): something
    already listens on the API port (another `make up`, most likely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex(("127.0.0.1", settings.api.port)) != 0:
            return ""
    return (f"the fabric is already running: the API port {settings.api.port} is taken "
            "(another `make up`? Ctrl-C in its terminal stops it; or give this one another "
            "api.port with --config)")


def _login() -> str:
    """The local user's login name (the carrier-admin is named after it)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor the password file
        return "local user"


async def _carrier_admin(settings: FabricSettings) -> Path:
    """The local user's named carrier-admin (made once with the operator token, the
    bootstrap credential; kept in ``carrier-admin.key`` beside it, mode 0600)."""
    api = settings.api
    key_file = carrier_admin_key_file(api.operator_token_file).resolve()
    try:
        await ensure_carrier_admin(
            f"localhost:{api.port}", api.operator_token_file.read_text().strip(), key_file,
            ca_file=(api.tls_dir / "ca.pem") if api.tls else None,
            name=f"{_login()} (local carrier-admin, make up)")
    except FabricError as exc:  # the fabric runs on; say how to do it by hand
        log.warning("could not make your carrier-admin (%s: %s); make one with `fabric "
                    "--token-file %s operator add NAME --role carrier-admin`",
                    exc.error_id, exc.message, api.operator_token_file.resolve())
    return key_file


def _record(settings: FabricSettings, key_file: Path) -> None:
    """Tell the CLI (from any folder) where this fabric is and which key to use."""
    api = settings.api
    record_local_fabric(LocalFabric(
        target=f"localhost:{api.port}", ca=str((api.tls_dir / "ca.pem").resolve()),
        operator_token_file=str(api.operator_token_file.resolve()), tls=api.tls,
        operator_key_file=str(key_file)))


async def _wait_serving(
    settings: FabricSettings, target: str = "", server_name: str = "", timeout_s: float = 60.0
) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = target or f"localhost:{settings.api.port}"
    if settings.api.tls:
        roots = (settings.api.tls_dir / "ca.pem").read_bytes()  # empty: a public CA
        creds = grpc.ssl_channel_credentials(roots if roots.strip() else None)
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        channel = grpc.aio.secure_channel(target, creds, options=options)
    else:
        channel = grpc.aio.insecure_channel(target)
    deadline = time.monotonic() + timeout_s
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("the gRPC API did not become ready")
            await asyncio.sleep(0.2)


async def _refresh_metrics(system: object, media: object, merged: MergedMetrics) -> None:
    while True:
        merged.update(await gather_texts(system, media))
        await asyncio.sleep(METRICS_REFRESH_S)


def _banner(settings: FabricSettings, metrics_port: int) -> str:
    api = settings.api
    demo = DEMO_DIR.resolve()
    ca = (api.tls_dir / "ca.pem").resolve()
    token = api.operator_token_file.resolve()
    key = carrier_admin_key_file(api.operator_token_file).resolve()
    security = f"TLS, CA {ca}" if api.tls else "plaintext"
    lines = [
        "",
        "call fabric is up",
        f"  gRPC API     {api.host}:{api.port} ({security})",
        f"  carrier      your carrier-admin key in {key} (mode 0600; the CLI uses it)",
        f"  bootstrap    operator token in {token} (creates operators only)",
        f"  media        SRTP relays on {settings.media.bind_host} UDP "
        f"{settings.media.port_min}-{settings.media.port_max}",
        f"  storage      {settings.storage.backend} ({settings.storage.data_dir})"
        if settings.storage.backend == "embedded"
        else f"  storage      cassandra {settings.storage.cassandra_hosts}",
        f"  metrics      http://{settings.metrics.host}:{metrics_port}/metrics"
        if metrics_port
        else "  metrics      off",
        "",
        "first call (another terminal, any folder: the CLI finds this fabric and your",
        f"carrier-admin key through {local_fabric_file()}):",
        "  fabric tenant add Acme                  # prints: export FABRIC_TOKEN=...",
        "  export FABRIC_TOKEN=fk_...              # the owner's key printed above",
        "  fabric user add Alice --ext 101",
        "  fabric user add Bob --ext 102",
        f"  fabric wav {demo}/hello.wav             # a 3 s test tone (G.711 u-law)",
        f"  fabric phone 102 --auto-answer --wav {demo}/hello.wav \\",
        f"      --record {demo}/heard-by-102.wav &",
        f"  fabric call dial 101 102 --wav {demo}/hello.wav \\",
        f"      --record {demo}/heard-by-101.wav --hangup-after 4",
        "  fabric cdr list",
        f"(fabric is {ROOT / '.venv/bin/fabric'})",
        "",
        "Ctrl-C stops the fabric.",
    ]
    return "\n".join(lines)


async def run(
    settings: FabricSettings,
    stop: asyncio.Event,
    *,
    api_target: str = "",
    api_server_name: str = "",
) -> None:
    """Start everything, wait for ``stop``, stop everything.

    ``api_target`` is where to wait for the API to serve (default ``localhost:<api.port>``;
    in Kubernetes the gateways run on the Ray nodes, behind the gateway Service).
    """
    from fabric.systems import RayActorSystem

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    cluster = None
    if not settings.runtime.ray_address:
        cluster = LocalRayCluster(nodes=1, cpus_per_node=os.cpu_count() or 2,
                                  runtime=settings.runtime).start()
    else:  # an existing cluster (Kubernetes: this container runs beside the Ray head)
        secure_ray(settings.runtime, create=False)  # the driver presents the cluster's token
        import ray

        # One job: the relays and hosts live as long as this driver and die with it, so a
        # restart re-creates them (also on nodes that joined since).
        ray.init(address=settings.runtime.ray_address, log_to_driver=False)
    _stop_on_signals(stop)  # again: connecting Ray replaced the SIGTERM handler with its own
    try:
        # with the stores' settings the relays can record (voicemail, call recordings)
        media = await start_media(settings.media, storage=settings.storage, vault=settings.vault)
        system = await RayActorSystem.start(
            settings,
            actor_types=ACTOR_TYPES,
            services=SERVICES,
            gateway_services=GATEWAY_SERVICES,
        )
        try:
            await _wait_serving(settings, api_target, api_server_name)
            merged = MergedMetrics()
            metrics_port = settings.metrics.port
            if metrics_port:
                registry = CollectorRegistry()
                registry.register(merged)
                start_http_server(metrics_port, addr=settings.metrics.host, registry=registry)
            refresher = asyncio.create_task(_refresh_metrics(system, media, merged))
            if cluster is not None:  # a fabric on this machine: the CLI finds it anywhere
                _record(settings, await _carrier_admin(settings))
                DEMO_DIR.mkdir(parents=True, exist_ok=True)
            print(_banner(settings, metrics_port), flush=True)
            await stop.wait()
            print("stopping...", flush=True)
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        finally:
            await system.stop()
            await stop_media(media)
    finally:
        if cluster is not None:
            cluster.stop()
    print("stopped", flush=True)


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (a graceful stop: Kubernetes sends SIGTERM)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cluster.up``."""
    parser = argparse.ArgumentParser(prog="python -m cluster.up", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings TOML (see config.sample.toml)")
    parser.add_argument(
        "--api-target", default="",
        help="host:port to wait on until the API serves (default localhost:<api.port>)",
    )
    parser.add_argument(
        "--api-server-name", default="",
        help="name to check in the API's certificate, if not the --api-target host",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = load_settings(args.config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.runtime.ray_address:
        busy = already_running(settings)
        if busy:
            print(busy, file=sys.stderr)
            return 1

    async def main_async() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await run(settings, stop, api_target=args.api_target,
                  api_server_name=args.api_server_name)

    asyncio.run(main_async())
    return 0


if __name__ == "__main__":
    sys.exit(main())

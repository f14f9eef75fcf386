"""Health probe of the gRPC API: ``python -m cluster.health`` exits 0 when it is SERVING.

The container image's ``HEALTHCHECK`` and the Helm chart's ``helm test`` hooks run it, so
it needs nothing but the image (no grpcurl). It asks the standard ``grpc.health.v1.Health``
service over TLS (the CA from ``--ca``, by default ``api.tls_dir/ca.pem``; an empty CA file
means the system's trusted roots, as for a certificate from a public CA) or plaintext
(``--plaintext``, or ``api.tls = false``). Exit status: 0 serving, 1 anything else; one
line on stderr says why, never a credential.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fabric.config import FabricSettings


def probe(
    target: str,
    *,
    ca: Path | None,
    server_name: str = "",
    service: str = "",
    timeout_s: float = 3.0,
) -> str:
    """The serving status name of ``service`` at ``target`` (``SERVING`` when healthy)."""
    if ca is None:
        channel = grpc.insecure_channel(target)
    else:
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        roots = ca.read_bytes()
        creds = grpc.ssl_channel_credentials(roots if roots.strip() else None)
        channel = grpc.secure_channel(target, creds, options=options)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: list[str] | None = None) -> int:
    """Entry point: probe once, print the outcome, exit 0 only when serving."""
    settings = FabricSettings()
    parser = argparse.ArgumentParser(prog="python -m cluster.health", description=__doc__)
    parser.add_argument("--target", default=f"localhost:{settings.api.port}",
                        help="host:port of the gRPC API")
    parser.add_argument("--ca", type=Path, default=settings.api.tls_dir / "ca.pem",
                        help="CA certificate (PEM) that signed the server's certificate")
    parser.add_argument("--plaintext", action="store_true", default=not settings.api.tls,
                        help="no TLS (only for an API started with api.tls = false)")
    parser.add_argument("--server-name", default="",
                        help="name to check in the server certificate, if not the target's")
    parser.add_argument("--service", default="", help="service name ('' = the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait")
    args = parser.parse_args(argv)
    try:
        status = probe(
            args.target,
            ca=None if args.plaintext else args.ca,
            server_name=args.server_name,
            service=args.service,
            timeout_s=args.timeout,
        )
    except (grpc.RpcError, OSError) as exc:
        code = exc.code().name if isinstance(exc, grpc.RpcError) else type(exc).__name__
        print(f"health: {args.target} unreachable ({code})", file=sys.stderr)
        return 1
    print(f"health: {args.target} {status}", file=sys.stderr)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())

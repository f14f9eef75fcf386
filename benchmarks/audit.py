"""What the audit log costs an RPC: the same unary RPC through the real edge interceptor on a
loopback gRPC server, with the audit recorder (SQLite audit store, as the embedded backend
writes it) and without it, side by side in one run; plus the audit writer alone.

The RPC is a generic unary echo whose request carries a ``tenant_id`` field (the carrier's
``TenantRef``), called with the operator token, so each audited call writes two entries
(the carrier's log and the tenant's). Prints one JSON line last: value = audited RPCs/s,
baseline = unaudited RPCs/s, ratio = value / baseline.

    .venv/bin/python benchmarks/audit.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from cluster.ports import free_tcp_port  # noqa: E402
from fabric.api.v1 import carrier_pb2 as api_carrier  # noqa: E402
from fabric.audit.chain import AuditWriter  # noqa: E402
from fabric.audit.entry import AuditEntry  # noqa: E402
from fabric.audit.recorder import AuditRecorder  # noqa: E402
from fabric.audit.sqlite_store import SqliteAuditStore  # noqa: E402
from fabric.edge.auth import Authorizer, Principal, Role  # noqa: E402
from fabric.edge.interceptor import EdgeInterceptor  # noqa: E402
from fabric.edge.metrics import EdgeMetrics  # noqa: E402

METHOD = "/fabric.api.v1.CarrierAdmin/GetTenant"
TOKEN = "fo_benchmark-token"


async def _no_keys(parts: Any) -> Principal:
    raise AssertionError("only the operator token is used")


async def _echo(request: api_carrier.TenantRef, context: Any) -> api_carrier.Tenant:
    return api_carrier.Tenant(tenant_id=request.tenant_id)


async def _serve(audit: AuditRecorder | None) -> tuple[grpc.aio.Server, int]:
    roles = {METHOD: frozenset({Role.OPERATOR})}
    interceptor = EdgeInterceptor(Authorizer(TOKEN, _no_keys, roles), EdgeMetrics(),
                                  audit=audit)
    server = grpc.aio.server(interceptors=[interceptor])
    handler = grpc.method_handlers_generic_handler("fabric.api.v1.CarrierAdmin", {
        "GetTenant": grpc.unary_unary_rpc_method_handler(
            _echo, request_deserializer=api_carrier.TenantRef.FromString,
            response_serializer=api_carrier.Tenant.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"127.0.0.1:{free_tcp_port()}")
    await server.start()
    return server, port


async def _rate(port: int, calls: int) -> float:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            METHOD, request_serializer=api_carrier.TenantRef.SerializeToString,
            response_deserializer=api_carrier.Tenant.FromString)
        md = (("authorization", f"Bearer {TOKEN}"),)
        for _ in range(50):  # warm up
            await call(api_carrier.TenantRef(tenant_id="t-warm"), metadata=md)
        t0 = time.perf_counter()
        for i in range(calls):
            await call(api_carrier.TenantRef(tenant_id=f"t-{i % 10}"), metadata=md)
        return calls / (time.perf_counter() - t0)


async def _writer_rate(store: SqliteAuditStore, entries: int) -> float:
    writer = AuditWriter(store)
    base = AuditEntry("t-w", "", 0, 0, "u-1", "admin", "t-w", "k", METHOD, "read", "tenant",
                      "t-w", "127.0.0.1", "OK", "", "")
    t0 = time.perf_counter()
    for _ in range(entries):
        await writer.append(base)
    return entries / (time.perf_counter() - t0)


async def main(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteAuditStore(Path(tmp) / "audit.sqlite3")
        plain, plain_port = await _serve(None)
        audited, audited_port = await _serve(AuditRecorder(AuditWriter(store)))
        try:
            results: dict[str, list[float]] = {"plain": [], "audited": []}
            for _ in range(3):  # interleaved rounds: the machine's noise hits both alike
                results["plain"].append(await _rate(plain_port, calls))
                results["audited"].append(await _rate(audited_port, calls))
            writer = await _writer_rate(store, calls)
        finally:
            await plain.stop(None)
            await audited.stop(None)
            await store.close()
    value, baseline = max(results["audited"]), max(results["plain"])
    return {"bench": "audit_edge_rpc", "value": round(value, 1), "unit": "RPC/s",
            "baseline": round(baseline, 1), "ratio": round(value / baseline, 3),
            "audit_cost_us_per_rpc": round((1 / value - 1 / baseline) * 1e6, 1),
            "entries_per_rpc": 2, "writer_entries_per_s": round(writer, 1), "calls": calls}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    print(json.dumps(asyncio.run(main(parser.parse_args().calls))))

"""SMS benchmark: messages delivered per second end to end, sealed bodies against plain ones.

End to end: SDK clients send ``SendMessage`` over gRPC with TLS from tenant A's numbers to
tenant B's; each of B's numbers routes to an extension with a registered softphone, and a
message counts as delivered when its ``CALL_EVENT_MESSAGE`` reaches that Register stream. We
report delivered messages/s and send->delivered p50/p99 (client side: from sending the
request to the recipient's stream delivering the event).

Two phases on the same local Ray cluster and store, one after the other:
- ``sealed``: the fabric as shipped (each body sealed in the vault's content store: a data
  key made, wrapped and stored per message and side, the body encrypted with AES-256-GCM);
- ``plain`` (baseline): the same run where the content store writes the body's bytes to the
  same backend (same chunk file / row) without any key or encryption
  (:class:`PlainContentStore`, swapped in through a host service factory). Everything else
  (conversation state, sealed at rest like every actor state; message detail records with
  sealed numbers) is the same, so the ratio is what sealing the bodies costs.

The machine is shared: the 1-minute load average before and after each phase is printed.
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster.ports import free_tcp_port  # noqa: E402
from fabric.api.v1 import calls_pb2 as api_calls  # noqa: E402
from fabric.client import FabricClient, Softphone  # noqa: E402
from fabric.client.bootstrap import new_carrier_admin_key  # noqa: E402
from fabric.client.messaging import SmsClient  # noqa: E402
from fabric.config import FabricSettings  # noqa: E402
from fabric.errors import NotFound  # noqa: E402
from fabric.storage.factory import Stores  # noqa: E402
from fabric.vault.content import ContentBackend, ContentInfo, ContentStore, ObjectRow  # noqa: E402

BODY = "Your table for 4 is ready at 19:30. Reply STOP to opt out."


# ---- the baseline's content store ------------------------------------------------------------


class PlainReader:
    """An opened plain object."""

    def __init__(self, backend: ContentBackend, row: ObjectRow, info: ContentInfo) -> None:
        self._backend = backend
        self._row = row
        self.info = info

    async def read_all(self) -> bytes:
        """The stored bytes, as they are."""
        parts = [bytes(c) async for c in self._backend.read_chunks(self._row.key_id, 1)]
        return b"".join(parts)


class PlainContentStore:
    """The baseline: the content store's backend writes, with no key and no encryption."""

    def __init__(self, backend: ContentBackend) -> None:
        self.backend = backend

    async def put(self, tenant_id: str, data_class: str, object_id: str, data: bytes,
                  metadata: dict[str, str] | None = None) -> ContentInfo:
        """Store ``data`` as it is (one chunk)."""
        key_id = uuid.uuid4().hex
        writer = await self.backend.writer(key_id)
        await writer.write(0, b"", data)
        await writer.commit()
        now = time.time()
        await self.backend.put_object(ObjectRow(tenant_id, data_class, object_id, key_id,
                                                len(data), 1, self.backend.chunk_size, now, b""))
        return ContentInfo(tenant_id, data_class, object_id, len(data), now)

    async def open(self, tenant_id: str, data_class: str, object_id: str) -> PlainReader:
        """Open a stored object."""
        row = await self.backend.object(tenant_id, data_class, object_id)
        if row is None or row.deleted:
            raise NotFound("no such object", error_id="content-not-found")
        info = ContentInfo(tenant_id, data_class, object_id, row.size, row.created)
        return PlainReader(self.backend, row, info)

    async def delete(self, tenant_id: str, data_class: str, object_id: str) -> float:
        """Drop the object."""
        row = await self.backend.object(tenant_id, data_class, object_id)
        if row is None or row.deleted:
            raise NotFound("no such object", error_id="content-not-found")
        await self.backend.mark_deleted(tenant_id, data_class, object_id)
        await self.backend.drop_chunks(row.key_id)
        return time.time()


def plain_services(settings: FabricSettings, stores: Stores) -> dict[type, object]:
    """Host service factory of the baseline phase: the plain store as ``ContentStore``."""
    assert stores.content is not None
    return {ContentStore: PlainContentStore(stores.content.backend)}


# ---- the run ---------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load1() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


async def setup(target: str, ca: Path, operator: str, pairs: int, channels: int
                ) -> tuple[list[SmsClient], list[tuple[str, str]], list[Softphone]]:
    """Tenants A and B with ``pairs`` numbers each; B's routed to registered extensions."""
    op = FabricClient(target, operator, ca_file=ca)
    a = await op.create_tenant("Bench A")
    b = await op.create_tenant("Bench B")
    a_numbers = await op.allocate_numbers(a.tenant.tenant_id, count=pairs)
    b_numbers = await op.allocate_numbers(b.tenant.tenant_id, count=pairs)
    b_owner = op.with_token(b.owner_api_key)
    user = await b_owner.create_user("Bench reader")
    phones = []
    for i, number in enumerate(b_numbers):
        ext = f"{2000 + i}"
        await b_owner.put_extension(ext, user.user_id)
        await b_owner.route_number(number, extension=ext)
        phones.append(await Softphone(FabricClient(target, b.owner_api_key, ca_file=ca),
                                      ext).register())
    clients = [SmsClient(FabricClient(target, a.owner_api_key, ca_file=ca))
               for _ in range(channels)]
    await op.close()
    return clients, list(zip(a_numbers, b_numbers, strict=True)), phones


async def _events(phone: Softphone) -> AsyncIterator[api_calls.CallEvent]:
    while True:
        yield await phone.next_event()


async def drive(clients: list[SmsClient], pairs: list[tuple[str, str]], phones: list[Softphone],
                seconds: float, warmup: float) -> dict[str, Any]:
    """Send from every pair in a closed loop; count the MESSAGE events that arrive."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    delivered = 0
    counting = False
    stop = False
    errors: dict[str, int] = {}

    async def reader(phone: Softphone) -> None:
        nonlocal delivered
        async for event in _events(phone):
            if event.type != api_calls.CALL_EVENT_MESSAGE:
                continue
            now = time.perf_counter()
            start = sent_at.pop(event.message.body.rpartition("#")[2], None)
            if counting and start is not None:
                delivered += 1
                latencies.append(now - start)

    async def worker(i: int, sender: str, to: str) -> None:
        client = clients[i % len(clients)]
        n = 0
        while not stop:
            tag = f"{i}.{n}"
            n += 1
            sent_at[tag] = time.perf_counter()
            try:
                await client.send(sender, to, f"{BODY} #{tag}")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                key = getattr(exc, "error_id", type(exc).__name__)
                errors[key] = errors.get(key, 0) + 1
                sent_at.pop(tag, None)

    readers = [asyncio.create_task(reader(p)) for p in phones]
    workers = [asyncio.create_task(worker(i, s, t)) for i, (s, t) in enumerate(pairs)]
    await asyncio.sleep(warmup)
    counting = True
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    counting = False
    elapsed = time.perf_counter() - began
    stop = True
    await asyncio.gather(*workers)
    for task in readers:
        task.cancel()
    return {
        "delivered_per_s": round(delivered / elapsed, 1),
        "delivered": delivered,
        "p50_ms": round(pct(latencies, 50) * 1000, 1),
        "p99_ms": round(pct(latencies, 99) * 1000, 1),
        "errors": errors,
    }


def settings_for(run: Path, hosts: int) -> FabricSettings:
    """A benchmark fabric under ``run``: embedded store, free API port, no rate limit."""
    return FabricSettings(
        storage={"data_dir": run / "data", "spool_dir": run / "spool"},  # type: ignore[arg-type]
        api={"port": free_tcp_port(), "tls_dir": run / "tls",  # type: ignore[arg-type]
             "operator_token_file": run / "op.token",
             "sms_per_s_per_tenant": 1e6, "sms_burst": 1_000_000},
        runtime={"hosts_per_node": hosts},  # type: ignore[arg-type]
        metrics={"port": 0},  # type: ignore[arg-type]
    )


async def phase(args: argparse.Namespace, run: Path, plain: bool) -> dict[str, Any]:
    """Start the fabric (with the plain store for the baseline), drive it, stop it."""
    from actors.wiring import ACTOR_TYPES, GATEWAY_SERVICES, SERVICES
    from fabric.systems import RayActorSystem

    settings = settings_for(run, args.hosts)
    services = [*SERVICES, "benchmarks.sms:plain_services"] if plain else SERVICES
    load_before = load1()
    system = await RayActorSystem.start(settings, actor_types=ACTOR_TYPES, services=services,
                                        gateway_services=GATEWAY_SERVICES)
    try:
        target = f"localhost:{settings.api.port}"
        admin = await new_carrier_admin_key(  # the token file only makes operators
            target, (run / "op.token").read_text().strip(), ca_file=run / "tls" / "ca.pem",
            name="sms benchmark")
        clients, pairs, phones = await setup(target, run / "tls" / "ca.pem", admin,
                                             args.concurrency, args.channels)
        result = await drive(clients, pairs, phones, args.seconds, args.warmup)
        for phone in phones:
            await phone.close()
            await phone.client.close()
        for c in clients:
            await c.client.close()
    finally:
        await system.stop()
    result["load1_before"], result["load1_after"] = load_before, load1()
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Both phases on one local Ray cluster."""
    from cluster.ray_local import LocalRayCluster

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    run = Path(tempfile.mkdtemp(prefix="bench-sms-"))
    cluster = LocalRayCluster(nodes=1, cpus_per_node=os.cpu_count() or 2).start()
    try:
        sealed = await phase(args, run / "sealed", plain=False)
        plain = await phase(args, run / "plain", plain=True)
    finally:
        cluster.stop()
    return {"sealed": sealed, "plain": plain}


def main() -> int:
    """Run the benchmark; print the details to stderr and the JSON line last."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=32, help="sending numbers (pairs)")
    p.add_argument("--channels", type=int, default=4, help="gRPC channels they share")
    p.add_argument("--hosts", type=int, default=1, help="actor host processes")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    print(json.dumps(out), file=sys.stderr)
    sealed, plain = out["sealed"], out["plain"]
    ratio = sealed["delivered_per_s"] / plain["delivered_per_s"] if plain["delivered_per_s"] else 0
    print(json.dumps({
        "bench": "sms", "value": sealed["delivered_per_s"], "unit": "messages delivered/s",
        "baseline": plain["delivered_per_s"], "baseline_name": "bodies stored unsealed",
        "ratio": round(ratio, 3), "p99_ms": sealed["p99_ms"], "p50_ms": sealed["p50_ms"],
        "baseline_p99_ms": plain["p99_ms"], "target": 1000,
        "load1": [sealed["load1_before"], plain["load1_after"]],
        "cpus": os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak benchmark: steady calls for a long time; does any process keep growing?

Starts the fabric as ``call_setup.py`` does (local Ray, the actor hosts, one gateway with
the gRPC API over TLS, the embedded store unless ``--cassandra``), plus the media relays.
Measures the capacity briefly (closed-loop lifecycles, ``call_setup.drive``) unless
``--rate`` is given, then runs call lifecycles (dial, ringing, answer, hang-up) at half of
it for ``--minutes``. Every ``--sample-s`` (default a minute) it samples the resident
memory (RSS) of every fabric process - the gateway, each actor host, the registry, each
media relay (found among this driver's child processes by their Ray process title) - and
of this client process.

Growth per hour of each process is the least-squares slope of its RSS over the samples
after the warm-up (``--warmup-minutes``, default a third of the run), as MB/h and as % of
its RSS when the warm-up ended. The baseline, measured in the same run, is the growth of
the same processes while the fabric sits idle for ``--idle-minutes`` before the load (what
a process grows by without calls). After the load stops it reports what should be back to
zero: active calls (``ListActiveCalls``), relay sessions and ports, and actor activations
above the count before the load.

Prints one JSON line last: ``value`` is the largest growth (%/h) of a fabric process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.call_setup import (  # noqa: E402
    drive,
    fabric_settings,
    lifecycle,
    pct,
    process_groups,
    setup_tenant,
    start_system,
)
from fabric.client import FabricClient, Softphone  # noqa: E402
from fabric.client.bootstrap import new_carrier_admin_key  # noqa: E402

MB = 1024 * 1024
MEDIA_PORTS = (23000, 23999)  # a band of its own, clear of the default relays and the tests'


def fabric_processes(groups: dict[str, list[int]]) -> dict[str, int]:
    """Label -> pid of every fabric process, and of this client."""
    import psutil

    out: dict[str, int] = {"client": os.getpid()}
    known: set[int] = set()
    for role, pids in groups.items():
        if role.startswith("clients"):
            continue
        for n, pid in enumerate(sorted(pids), start=1):
            out[f"{role} {n}" if len(pids) > 1 else role] = pid
            known.add(pid)
    counts: dict[str, int] = {}
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            title = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if not title.startswith("ray::") or child.pid in known or "IDLE" in title:
            continue
        name = title.removeprefix("ray::").split()[0].split(".")[0]
        counts[name] = counts.get(name, 0) + 1
        out[f"{name} {counts[name]}"] = child.pid
    return out


def sample(procs: dict[str, int]) -> dict[str, float]:
    """RSS in MB of each process that is still alive."""
    import psutil

    out: dict[str, float] = {}
    for label, pid in procs.items():
        try:
            out[label] = psutil.Process(pid).memory_info().rss / MB
        except psutil.Error:
            pass
    return out


def growth(samples: list[tuple[float, dict[str, float]]], after_s: float) -> dict[str, Any]:
    """Per process: least-squares RSS slope (MB/h) after ``after_s``, and % of its RSS then."""
    out: dict[str, Any] = {}
    window = [(t, s) for t, s in samples if t >= after_s]
    labels = set().union(*(s.keys() for _, s in window)) if window else set()
    for label in sorted(labels):
        pts = [(t, s[label]) for t, s in window if label in s]
        if len(pts) < 2:
            continue
        n = len(pts)
        mt = sum(t for t, _ in pts) / n
        mv = sum(v for _, v in pts) / n
        var = sum((t - mt) ** 2 for t, _ in pts)
        slope_s = sum((t - mt) * (v - mv) for t, v in pts) / var if var else 0.0
        mb_h = slope_s * 3600
        out[label] = {
            "rss_mb_first": round(pts[0][1], 1),
            "rss_mb_last": round(pts[-1][1], 1),
            "mb_per_h": round(mb_h, 1),
            "pct_per_h": round(100 * mb_h / pts[0][1], 1) if pts[0][1] else None,
        }
    return out


async def sampler(
    procs: dict[str, int], every_s: float, t0: float, out: list[tuple[float, dict[str, float]]]
) -> None:
    """Sample RSS every ``every_s`` (the first at once) until cancelled."""
    while True:
        out.append((time.monotonic() - t0, sample(procs)))
        await asyncio.sleep(every_s)


async def steady_load(
    clients: list[FabricClient], exts: list[tuple[int, str, str]], rate: float, seconds: float
) -> dict[str, Any]:
    """Start lifecycles at ``rate`` per second (open loop, one call per extension pair at a
    time) for ``seconds``; count done, late (no free pair at the slot) and errors."""
    stop = asyncio.Event()
    next_slot = 0
    t0 = time.perf_counter()
    done = 0
    errors: dict[str, int] = {}
    ringing_ms: list[float] = []
    lateness: list[float] = []

    async def worker(i: int, a: str, b: str) -> None:
        nonlocal next_slot, done
        c = clients[i % len(clients)]
        async with Softphone(c, a) as caller, Softphone(c, b) as callee:
            while not stop.is_set():
                slot = t0 + next_slot / rate
                next_slot += 1
                wait = slot - time.perf_counter()
                if wait > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), wait)
                        return
                    except TimeoutError:
                        pass
                else:
                    lateness.append(-wait * 1000)
                started = time.perf_counter()
                try:
                    t_ring, _ = await lifecycle(c, caller, callee)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    name = getattr(exc, "error_id", type(exc).__name__)
                    errors[name] = errors.get(name, 0) + 1
                    continue
                done += 1
                if len(ringing_ms) < 200_000:
                    ringing_ms.append((t_ring - started) * 1000)

    tasks = [asyncio.create_task(worker(i, a, b)) for i, a, b in exts]
    await asyncio.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "lifecycles": done,
        "rate": done / elapsed,
        "target_rate": rate,
        "late_slots": len(lateness),
        "p99_late_ms": round(pct(lateness, 99), 1) if lateness else 0.0,
        "p50_ringing_ms": round(pct(ringing_ms, 50), 1),
        "p99_ringing_ms": round(pct(ringing_ms, 99), 1),
        "errors": errors,
    }


async def leftovers(
    system: Any, media: Any, owner: FabricClient, resident_before: int
) -> dict[str, int]:
    """What is still held after the load: calls, relay sessions/ports, extra activations."""
    out = {"active_calls": len(await owner.active_calls())}
    counts = await asyncio.gather(*(r.counts.remote() for r in media.relays))
    for key in ("sessions", "legs", "ports_in_use"):
        out[f"relay_{key}"] = sum(int(c.get(key, 0)) for c in counts)
    resident = sum(int(i["resident"]) for i in await system.host_info())
    out["extra_activations"] = resident - resident_before
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from cluster.ray_local import LocalRayCluster
    from fabric.media.relay_actor import start_media, stop_media

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    run = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    settings = fabric_settings(run, args.hosts, args.cassandra)
    settings.media.port_min, settings.media.port_max = MEDIA_PORTS
    cluster = LocalRayCluster(nodes=1, cpus_per_node=os.cpu_count() or 2).start()
    out: dict[str, Any] = {}
    try:
        media = await start_media(settings.media)
        system = await start_system(settings)
        try:
            target = f"localhost:{settings.api.port}"
            admin = await new_carrier_admin_key(  # the token file only makes operators
                target, (run / "op.token").read_text().strip(),
                ca_file=run / "tls" / "ca.pem", name="soak benchmark")
            clients, exts = await setup_tenant(
                target,
                run / "tls" / "ca.pem",
                admin,
                args.concurrency,
                args.channels,
            )
            owner = clients[0]
            procs = fabric_processes(await process_groups(system))
            out["processes"] = sorted(procs)
            if args.rate:
                rate = args.rate
            else:
                cap = await drive(clients, exts, args.capacity_seconds, 3.0)
                out["capacity"] = {k: cap[k] for k in ("rate", "lifecycles", "errors")}
                rate = cap["rate"] / 2
            await asyncio.sleep(2.0)  # let the capacity run's activations settle
            resident_before = sum(int(i["resident"]) for i in await system.host_info())
            t0 = time.monotonic()
            idle: list[tuple[float, dict[str, float]]] = []
            if args.idle_minutes > 0:
                task = asyncio.create_task(sampler(procs, args.idle_minutes * 6, t0, idle))
                await asyncio.sleep(args.idle_minutes * 60)
                task.cancel()
            samples: list[tuple[float, dict[str, float]]] = []
            t1 = time.monotonic()
            task = asyncio.create_task(sampler(procs, args.sample_s, t1, samples))
            out["load"] = await steady_load(clients, exts, rate, args.minutes * 60)
            samples.append((time.monotonic() - t1, sample(procs)))
            task.cancel()
            await asyncio.sleep(args.settle_s)
            out["after_load"] = await leftovers(system, media, owner, resident_before)
            warmup_s = (args.warmup_minutes if args.warmup_minutes is not None
                        else args.minutes / 3) * 60
            out["growth"] = growth(samples, warmup_s)
            out["idle_growth"] = growth(idle, 0.0)
            out["samples"] = [(round(t), {k: round(v, 1) for k, v in s.items()})
                              for t, s in samples]
            for c in clients:
                await c.close()
        finally:
            await system.stop()
            await stop_media(media)
    finally:
        cluster.stop()
    return out


def _worst(growth_by_proc: dict[str, Any]) -> float | None:
    values = [g["pct_per_h"] for k, g in growth_by_proc.items()
              if k != "client" and g.get("pct_per_h") is not None]
    return max(values) if values else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of steady load")
    p.add_argument("--rate", type=float, default=0.0,
                   help="lifecycles/s (default: half of the capacity measured first)")
    p.add_argument("--capacity-seconds", type=float, default=15.0)
    p.add_argument("--warmup-minutes", type=float, default=None,
                   help="minutes left out of the growth fit (default a third of --minutes)")
    p.add_argument("--idle-minutes", type=float, default=1.0,
                   help="idle time before the load, sampled for the baseline")
    p.add_argument("--sample-s", type=float, default=60.0, help="seconds between RSS samples")
    p.add_argument("--settle-s", type=float, default=5.0,
                   help="seconds after the load before counting leftovers")
    p.add_argument("--concurrency", type=int, default=16, help="caller/callee pairs")
    p.add_argument("--channels", type=int, default=4, help="gRPC channels shared by them")
    p.add_argument("--hosts", type=int, default=2, help="actor host processes")
    p.add_argument("--cassandra", default="", help="host:port: CDRs to Cassandra")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    print(json.dumps(out, default=str), file=sys.stderr)
    for label, g in out["growth"].items():
        print(f"{label:>24}: {g['rss_mb_first']:7.1f} -> {g['rss_mb_last']:7.1f} MB, "
              f"{g['mb_per_h']:+7.1f} MB/h ({g['pct_per_h']:+.1f} %/h)", file=sys.stderr)
    print(f"after the load: {out['after_load']}", file=sys.stderr)
    load = out["load"]
    line = {
        "bench": "soak",
        "value": _worst(out["growth"]),
        "unit": "max RSS growth of a fabric process, %/h after warm-up",
        "baseline": _worst(out["idle_growth"]),
        "baseline_is": "the same processes idle, same run",
        "ratio": None,
        "client_pct_per_h": out["growth"].get("client", {}).get("pct_per_h"),
        "minutes": args.minutes,
        "rate": round(load["rate"], 1),
        "target_rate": round(load["target_rate"], 1),
        "capacity": round(out["capacity"]["rate"], 1) if "capacity" in out else None,
        "errors": sum(load["errors"].values()),
        "p99_dial_to_ringing_ms": load["p99_ringing_ms"],
        "leftovers": out["after_load"],
        "target": {"pct_per_h": 5.0, "leftovers": 0},
    }
    v, b = line["value"], line["baseline"]
    if isinstance(v, float) and isinstance(b, float) and b:
        line["ratio"] = round(v / b, 2)
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())

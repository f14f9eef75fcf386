"""Virtual actors vs one Ray actor per key, measured side by side in one run.

Starts a local 2-node Ray cluster (head + 1 worker, one actor host per node), then measures:

- our activations/s: from the driver, one ask to each of N new keys spread over both hosts
  (end to end, through the batched transport), and inside one host (tells to N local keys);
- our memory per resident idle actor: RSS growth of a host process / N (Echo actors);
- ask round trips/s: inside one host (same-host), host to host (cross-host), driver to hosts;
  and the CPU (all threads of the host processes, plus the driver's for driver asks) per
  ask host to host and driver to hosts;
- the baseline, one Ray actor per key: creations/s and memory per actor (RSS and USS of each
  actor's worker process) for a few dozen keys (each costs a process of ~80 MB on a shared
  machine), and Ray method calls/s to one actor, synchronous and pipelined.

Prints one JSON line last: value = our activations/s (driver, end to end), baseline = Ray
actor creations/s, ratio = value / baseline; the other figures and ratios are extra fields.

    .venv/bin/python benchmarks/actors.py [--keys 20000] [--baseline-keys 40]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import ray  # noqa: E402
from google.protobuf.empty_pb2 import Empty  # noqa: E402

from cluster.ray_local import LocalRayCluster  # noqa: E402
from fabric.actor import ActorAddress
from fabric.config import FabricSettings  # noqa: E402
from fabric.systems import RayActorSystem  # noqa: E402

TK = "fabric.testing"


@ray.remote(num_cpus=0)
class OneActorPerKey:
    """The baseline: a whole Ray actor (process) for one key."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.count = 0

    def pid(self) -> int:
        return os.getpid()

    def handle(self) -> int:
        self.count += 1
        return self.count


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids``."""
    total = 0.0
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


async def measure_ours(system: RayActorSystem, keys: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hosts = list(system.hosts)
    host_pids = [int(i["pid"]) for i in await system.host_info()]
    # end-to-end activations from the driver, in waves of 2,000 concurrent asks
    started = time.perf_counter()
    msg = Empty()
    for start in range(0, keys, 2_000):
        await asyncio.gather(*(system.ref(ActorAddress("echo", f"drv-{i}")).ask(msg, 60)
                               for i in range(start, min(keys, start + 2_000))))
    out["activations_per_s_driver"] = keys / (time.perf_counter() - started)
    # in-host activations and memory per idle resident actor
    local = await system.run_on_host(hosts[0], f"{TK}:activate_local", "echo", keys, "mem-")
    out["activations_per_s_in_host"] = local["activated"] / local["seconds"]
    out["bytes_per_idle_actor"] = local["rss_delta"] / local["activated"]
    # ask round trips
    same_keys = await system.run_on_host(hosts[0], f"{TK}:local_keys", "echo", 200, True)
    cross_keys = await system.run_on_host(hosts[0], f"{TK}:local_keys", "echo", 200, False)
    same = await system.run_on_host(hosts[0], f"{TK}:ask_rate", "echo", same_keys, 40_000, 100)
    cpu0 = _cpu_s(host_pids)
    cross = await system.run_on_host(hosts[0], f"{TK}:ask_rate", "echo", cross_keys, 40_000,
                                     500)
    # CPU of both host processes (asker and answerer, every thread) per cross-host ask
    out["cross_host_cpu_us_per_ask"] = (_cpu_s(host_pids) - cpu0) * 1e6 / cross["asks"]
    out["same_host_asks_per_s"] = same["asks"] / same["seconds"]
    out["cross_host_asks_per_s"] = cross["asks"] / cross["seconds"]
    out["cross_host_ray_calls"] = cross["batches"]
    out["ask_errors"] = same["errors"] + cross["errors"]
    refs = [system.ref(ActorAddress("echo", f"drv-{i}")) for i in range(200)]
    cpu0 = _cpu_s(host_pids + [os.getpid()])
    started = time.perf_counter()
    total = 20_000
    per = total // 200
    async def worker(ref: Any) -> None:
        for _ in range(per):
            await ref.ask(msg, 60)
    await asyncio.gather(*(worker(r) for r in refs))
    out["driver_asks_per_s"] = total / (time.perf_counter() - started)
    out["driver_cpu_us_per_ask"] = (_cpu_s(host_pids + [os.getpid()]) - cpu0) * 1e6 / total
    return out


async def measure_baseline(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    started = time.perf_counter()
    actors = [OneActorPerKey.remote(f"k{i}") for i in range(n)]
    pids = await asyncio.gather(*(a.pid.remote() for a in actors))
    out["creations_per_s"] = n / (time.perf_counter() - started)
    rss = uss = 0
    for pid in pids:
        info = psutil.Process(pid).memory_full_info()
        rss += info.rss
        uss += info.uss
    out["rss_per_actor"] = rss / n
    out["uss_per_actor"] = uss / n
    target = actors[0]
    await target.handle.remote()
    started = time.perf_counter()
    for _ in range(1_000):
        await target.handle.remote()
    out["sync_calls_per_s"] = 1_000 / (time.perf_counter() - started)
    started = time.perf_counter()
    await asyncio.gather(*(target.handle.remote() for _ in range(5_000)))
    out["pipelined_calls_per_s"] = 5_000 / (time.perf_counter() - started)
    for a in actors:
        ray.kill(a)
    return out


async def run(keys: int, baseline_keys: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        settings = FabricSettings(
            runtime={"hosts_per_node": 1, "gateway_per_node": False},
            storage={"backend": "embedded", "data_dir": Path(data)},
        )
        system = await RayActorSystem.start(settings, actor_types=[f"{TK}:Echo"])
        try:
            ours = await measure_ours(system, keys)
        finally:
            await system.stop()
    base = await measure_baseline(baseline_keys)
    r = lambda a, b: round(a / b, 1) if b else None  # noqa: E731
    return {
        "bench": "actors",
        "value": round(ours["activations_per_s_driver"], 1),
        "unit": "activations/s",
        "baseline": round(base["creations_per_s"], 2),
        "ratio": r(ours["activations_per_s_driver"], base["creations_per_s"]),
        "activations_per_s_in_host": round(ours["activations_per_s_in_host"], 1),
        "bytes_per_idle_actor": round(ours["bytes_per_idle_actor"]),
        "baseline_rss_bytes_per_actor": round(base["rss_per_actor"]),
        "baseline_uss_bytes_per_actor": round(base["uss_per_actor"]),
        "memory_ratio": r(base["rss_per_actor"], ours["bytes_per_idle_actor"]),
        "same_host_asks_per_s": round(ours["same_host_asks_per_s"], 1),
        "cross_host_asks_per_s": round(ours["cross_host_asks_per_s"], 1),
        "driver_asks_per_s": round(ours["driver_asks_per_s"], 1),
        "cross_host_ray_calls_for_40000_asks": ours["cross_host_ray_calls"],
        "cross_host_cpu_us_per_ask": round(ours["cross_host_cpu_us_per_ask"], 1),
        "driver_cpu_us_per_ask": round(ours["driver_cpu_us_per_ask"], 1),
        "ask_errors": ours["ask_errors"],
        "baseline_sync_calls_per_s": round(base["sync_calls_per_s"], 1),
        "baseline_pipelined_calls_per_s": round(base["pipelined_calls_per_s"], 1),
        "same_host_ratio": r(ours["same_host_asks_per_s"], base["pipelined_calls_per_s"]),
        "cross_host_ratio": r(ours["cross_host_asks_per_s"], base["pipelined_calls_per_s"]),
        "keys": keys,
        "baseline_keys": baseline_keys,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--baseline-keys", type=int, default=40)
    args = parser.parse_args()
    with LocalRayCluster(nodes=2):
        result = asyncio.run(run(args.keys, args.baseline_keys))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

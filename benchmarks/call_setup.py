"""Call setup benchmark: full call lifecycles per second over gRPC, and its baseline.

A lifecycle is: Dial (gRPC) -> the caller's softphone receives RINGING and the callee's
INCOMING (Register streams) -> Answer (gRPC) -> Hangup (gRPC; it returns once the CDR is
persisted). Concurrent SDK clients on this machine drive the fabric: local Ray, the actor
hosts, one gateway with the gRPC API over TLS. We report lifecycles/s, dial->ringing p50/p99
(client side: from sending Dial to the caller's stream delivering RINGING) and the CPU each
process group spent per lifecycle.

Phases of one run: the fabric on the embedded store (SQLite); then, with
``--cassandra host:port``, the same fabric on Cassandra (actor state, reminders and CDRs, the
store carriers run), with the Cassandra JVM's own CPU counted from ``/proc/<pid>/stat`` (the
pid from the launcher's pidfile, ``--cassandra-pid`` to name it) and a total. With
``--cassandra`` the JSON line's ``value`` is the Cassandra phase's lifecycles/s and ``ratio``
is Cassandra over embedded (the embedded phase is the baseline). The JVM's CPU during the
embedded phase is reported too: it is what other clients of a shared node cost meanwhile.
Each phase first measures every process group's CPU with no call going (``idle_cpu_ms_per_s``,
``--idle-seconds``): background is spread over a phase's lifecycles, so a slower phase
carries more of it. ``--count-requests`` adds each host's Cassandra requests per lifecycle by
statement (``requests_per_lifecycle``; a batch by its type and size, and its statements).

Without ``--cassandra`` (or with ``--ray-baseline``) the baseline is the same lifecycle where
each call is a Ray actor of its own (create the actor = dial, its first method = ringing,
answer, hang up writing the CDR to SQLite, kill the actor) - the design the fabric's virtual
actors replace.

``--profile`` also runs the lifecycle loop in ONE process (LocalActorSystem + the same
gRPC server + the clients) under cProfile and prints the top functions to stderr: with no
Ray transport in the way, it shows what the Python side of a lifecycle costs.

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster.cassandra import DEFAULT_DIR  # noqa: E402
from cluster.cassandra_security import client_settings  # noqa: E402
from cluster.ports import free_tcp_port  # noqa: E402
from fabric.api.v1 import calls_pb2 as api_calls  # noqa: E402
from fabric.client import FabricClient, Softphone  # noqa: E402
from fabric.client.bootstrap import new_carrier_admin_key  # noqa: E402
from fabric.config import FabricSettings  # noqa: E402


def free_port() -> int:
    return free_tcp_port()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# ---- the fabric over gRPC -----------------------------------------------------------------


async def setup_tenant(target: str, ca: Path, operator: str, pairs: int, channels: int,
                       tenants: int = 1) -> tuple[list[FabricClient], list[tuple[int, str, str]]]:
    """``tenants`` tenants sharing ``pairs`` caller/callee extension pairs round-robin, each
    with ``channels`` clients; returns the clients and (client index, caller, callee)."""
    op = FabricClient(target, operator, ca_file=ca)
    clients: list[FabricClient] = []
    owners = []
    for t in range(tenants):
        made = await op.create_tenant(f"Bench {t}")
        owner = op.with_token(made.owner_api_key)
        owners.append((owner, (await owner.create_user("Bench user")).user_id))
        clients.extend(FabricClient(target, made.owner_api_key, ca_file=ca)
                       for _ in range(channels))
    exts = []
    for i in range(pairs):
        t = i % tenants
        owner, user_id = owners[t]
        a, b = f"{1000 + i}", f"{5000 + i}"
        await owner.put_extension(a, user_id, ring_timeout_s=60)
        await owner.put_extension(b, user_id, ring_timeout_s=60)
        exts.append((t * channels + (i // tenants) % channels, a, b))
    await op.close()
    return clients, exts


JVM = "cassandra (JVM)"


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) from ``/proc/<pid>/stat``; 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cassandra_pid(explicit: int = 0, launcher_dir: Path = DEFAULT_DIR) -> int | None:
    """The JVM of the launcher's node (``.run/cassandra``), or any CassandraDaemon."""
    if explicit:
        return explicit
    from cluster.cassandra import ClusterLayout
    from cluster.cassandra_process import node_pid

    layout = ClusterLayout.load(launcher_dir)
    for node in layout.nodes if layout is not None else []:
        pid = node_pid(node)
        if pid is not None:
            return pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"CassandraDaemon" in cmd:
                return int(entry.name)
    return None


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """User+system CPU seconds used so far by each group of processes."""
    return {name: sum(proc_cpu_seconds(pid) for pid in group) for name, group in pids.items()}


async def lifecycle(c: FabricClient, caller: Softphone, callee: Softphone) -> tuple[float, float]:
    """Dial, wait for RINGING and INCOMING, answer, hang up; perf_counter at ringing, answer."""
    call = await c.dial(caller.extension, extension=callee.extension)
    await caller.expect(api_calls.CALL_EVENT_RINGING, call.call_id)
    t_ring = time.perf_counter()
    await callee.expect(api_calls.CALL_EVENT_INCOMING, call.call_id)
    await c.answer(call.call_id, callee.extension)
    t_answer = time.perf_counter()
    await c.hangup(call.call_id)
    return t_ring, t_answer


async def drive(clients: list[FabricClient], exts: list[tuple[int, str, str]], seconds: float,
                warmup_s: float, cpu_probe: Any = None, counter: Any = None) -> dict[str, Any]:
    """Run one lifecycle loop per extension pair; measure after the warm-up. ``counter``
    (optional): ``await counter(True)`` when measuring starts, ``await counter(False)`` (a
    dict of totals) when it stops; the totals are reported per lifecycle."""
    ringing_ms: list[float] = []
    answered_ms: list[float] = []
    done = 0
    errors: dict[str, int] = {}
    measuring = asyncio.Event()
    stop = asyncio.Event()

    async def worker(ci: int, caller_ext: str, callee_ext: str) -> None:
        nonlocal done
        c = clients[ci]
        async with Softphone(c, caller_ext) as caller, Softphone(c, callee_ext) as callee:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    t_ring, t_answer = await lifecycle(c, caller, callee)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    name = getattr(exc, "error_id", type(exc).__name__)
                    errors[name] = errors.get(name, 0) + 1
                    continue
                if measuring.is_set() and not stop.is_set():
                    done += 1
                    ringing_ms.append((t_ring - t0) * 1000)
                    answered_ms.append((t_answer - t0) * 1000)

    tasks = [asyncio.create_task(worker(ci, a, b)) for ci, a, b in exts]
    await asyncio.sleep(warmup_s)
    measuring.set()
    cpu_before = cpu_probe() if cpu_probe else {}
    if counter is not None:
        await counter(True)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    cpu_after = cpu_probe() if cpu_probe else {}
    counted = await counter(False) if counter is not None else {}
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu_ms = {k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(done, 1), 2)
              for k in cpu_before if k in cpu_after}
    if cpu_ms:
        cpu_ms["total"] = round(sum(cpu_ms.values()), 2)
    per = {name: {label: round(n / max(done, 1), 2) for label, n in sorted(counts.items())}
           for name, counts in counted.items()}
    return {
        **({"requests_per_lifecycle": per} if per else {}),
        "cpu_ms_per_lifecycle": cpu_ms,
        "lifecycles": done,
        "seconds": elapsed,
        "rate": done / elapsed,
        "p50_ringing_ms": pct(ringing_ms, 50),
        "p99_ringing_ms": pct(ringing_ms, 99),
        "p50_answered_ms": pct(answered_ms, 50),
        "errors": errors,
    }


def fabric_settings(run: Path, hosts: int, cassandra: str = "",
                    launcher_dir: Path = DEFAULT_DIR) -> FabricSettings:
    """Settings of a benchmark fabric under ``run`` (a free API port, no metrics port)."""
    storage: dict[str, Any] = {"data_dir": run / "data", "spool_dir": run / "spool"}
    if cassandra:
        host, _, cport = cassandra.rpartition(":")
        storage.update(backend="cassandra", cassandra_hosts=[host], cassandra_port=int(cport),
                       keyspace=f"bench_{os.getpid()}", consistency="LOCAL_QUORUM",
                       **client_settings(launcher_dir))  # the launcher's role, password, CA
    return FabricSettings(
        storage=storage,  # type: ignore[arg-type]
        # one owner key drives every call: this measures throughput, not the per-key limit
        api={"port": free_port(), "tls_dir": run / "tls", "operator_token_file": run / "op.token",  # type: ignore[arg-type]
             "dials_per_s_per_key": 1e6, "dial_burst": 1_000_000},
        runtime={"hosts_per_node": hosts},  # type: ignore[arg-type]
        metrics={"port": 0},  # type: ignore[arg-type]
    )


async def start_system(settings: FabricSettings) -> Any:
    """The fabric's actor system (hosts and gateway) on the connected Ray cluster."""
    from actors.wiring import ACTOR_TYPES, GATEWAY_SERVICES, SERVICES
    from fabric.systems import RayActorSystem

    system = await RayActorSystem.start(settings, actor_types=ACTOR_TYPES, services=SERVICES,
                                        gateway_services=GATEWAY_SERVICES)
    await asyncio.sleep(1.0)
    return system


async def process_groups(system: Any) -> dict[str, list[int]]:
    """Pids of the driver (clients), the gateway, the actor hosts and the registry."""
    groups: dict[str, list[int]] = {"clients (bench driver)": [os.getpid()]}
    for info in await system.host_info():
        role = "gateway" if info["role"] == "gateway" else "actor hosts"
        groups.setdefault(role, []).append(int(info["pid"]))
    try:
        groups["registry"] = [int(await system._registry.pid.remote())]
    except AttributeError:  # a runtime without Registry.pid (comparisons with old code)
        pass
    return groups


async def idle_cpu(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """CPU ms per second each process group spends with no call going (its background: Ray,
    metrics, timers, other clients of a shared node); over a phase it is spread across its
    lifecycles, so a slower phase carries more of it per lifecycle."""
    if seconds <= 0:
        return {}
    before = cpu_seconds(groups)
    await asyncio.sleep(seconds)
    after = cpu_seconds(groups)
    return {k: round((after[k] - before[k]) * 1000 / seconds, 1) for k in before}


async def bench_fabric(args: argparse.Namespace, run: Path, cassandra: str = "",
                       jvm_pid: int | None = None) -> dict[str, Any]:
    """One phase: start the fabric (embedded store, or Cassandra at ``cassandra``), drive it."""
    settings = fabric_settings(run, args.hosts, cassandra, args.cassandra_dir)
    port = settings.api.port
    system = await start_system(settings)
    try:
        target = f"localhost:{port}"
        admin = await new_carrier_admin_key(  # the token file only makes operators
            target, (run / "op.token").read_text().strip(), ca_file=run / "tls" / "ca.pem",
            name="call_setup benchmark")
        clients, exts = await setup_tenant(target, run / "tls" / "ca.pem", admin,
                                           args.concurrency, args.channels, args.tenants)
        groups = await process_groups(system)
        if jvm_pid is not None:
            groups[JVM] = [jvm_pid]
        if args.profile_hosts:
            for host_id in system.hosts:
                await system.run_on_host(host_id, "benchmarks.call_setup:host_profile_start")
        counter = None
        if args.count_requests and cassandra:
            async def counter(start: bool) -> dict[str, dict[str, int]]:
                return {host_id: await system.run_on_host(
                    host_id, "benchmarks.call_setup:host_count_requests", start)
                    for host_id in system.hosts}
        idle = await idle_cpu(groups, args.idle_seconds)
        result = await drive(clients, exts, args.seconds, args.warmup,
                             lambda: cpu_seconds(groups), counter)
        result["idle_cpu_ms_per_s"] = idle
        if args.profile_hosts:
            for host_id in system.hosts:
                text = await system.run_on_host(host_id, "benchmarks.call_setup:host_profile_stop")
                print(f"==== cProfile of host {host_id} ====\n{text}", file=sys.stderr)
        for c in clients:
            await c.close()
        return result
    finally:
        await system.stop()
        if cassandra:
            _drop_keyspace(settings)


def _drop_keyspace(settings: FabricSettings) -> None:
    from fabric.storage.cassandra_session import connect_sync
    from fabric.storage.schema import drop_keyspace

    conn = connect_sync(settings.storage, use_keyspace=False)
    try:
        drop_keyspace(conn.session, settings.storage.keyspace)
    finally:
        conn.shutdown()


# ---- profiling inside the Ray host processes (run with RayActorSystem.run_on_host) --------

_PROFILER: list[cProfile.Profile] = []


async def host_profile_start(runtime: Any) -> None:
    """Start cProfile on this host's event-loop thread."""
    prof = cProfile.Profile()
    _PROFILER[:] = [prof]
    prof.enable()


async def host_profile_stop(runtime: Any, top: int = 25) -> str:
    """Stop cProfile; the top functions by own time, and by cumulative time."""
    prof = _PROFILER.pop()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumtime").print_stats(top)
    return out.getvalue()


async def host_count_requests(runtime: Any, start: bool) -> dict[str, int]:
    """Start counting this host's Cassandra requests, or stop and return the counts."""
    from fabric.storage.cassandra_session import count_requests

    return count_requests(start)


# ---- the baseline: one Ray actor per call -------------------------------------------------


class CallPerActor:
    """One call as a whole Ray actor (the baseline)."""

    def __init__(self, call_id: str, db: str) -> None:
        self.call_id = call_id
        self.db = db
        self.state = "dialing"
        self.started = time.time()
        self.answered = 0.0

    def ring(self) -> str:
        self.state = "ringing"
        return self.state

    def answer(self) -> str:
        self.state = "answered"
        self.answered = time.time()
        return self.state

    def hangup(self) -> str:
        self.state = "ended"
        with sqlite3.connect(self.db, timeout=30) as conn:
            conn.execute("INSERT OR REPLACE INTO cdr VALUES (?, ?, ?, ?)",
                         (self.call_id, self.started, self.answered, time.time()))
        return self.state


async def bench_baseline(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    import ray

    db = str(run / "baseline.sqlite3")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS cdr (call_id TEXT PRIMARY KEY, start REAL, "
                     "answer REAL, end REAL)")
    remote = ray.remote(num_cpus=0)(CallPerActor)
    ringing_ms: list[float] = []
    done = 0
    stop = asyncio.Event()

    async def worker(w: int) -> None:
        nonlocal done
        n = 0
        while not stop.is_set():
            n += 1
            t0 = time.perf_counter()
            actor = remote.remote(f"b{w}-{n}", db)
            await actor.ring.remote()
            t_ring = time.perf_counter()
            await actor.answer.remote()
            await actor.hangup.remote()
            ray.kill(actor)
            if not stop.is_set():
                done += 1
                ringing_ms.append((t_ring - t0) * 1000)

    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(w)) for w in range(args.baseline_concurrency)]
    await asyncio.sleep(args.baseline_seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"lifecycles": done, "seconds": elapsed, "rate": done / elapsed,
            "p50_ringing_ms": pct(ringing_ms, 50), "p99_ringing_ms": pct(ringing_ms, 99)}


# ---- in-process profile -------------------------------------------------------------------


async def profile_in_process(args: argparse.Namespace, run: Path) -> dict[str, Any]:
    from actors.api.server import start_api
    from actors.wiring import ACTOR_TYPES, make_services
    from fabric._runtime.loader import load_symbol
    from fabric.storage.factory import open_stores
    from fabric.systems import LocalActorSystem

    # the same actor types, services and lifted dial limit as the Ray run (fabric_settings)
    settings = fabric_settings(run / "inproc", hosts=1)
    port = settings.api.port
    stores = await open_stores(settings.storage)  # one set, as a host process has
    system = LocalActorSystem([load_symbol(name) for name in ACTOR_TYPES],
                              state_store=stores.state, reminder_store=stores.reminders,
                              services=make_services(settings, stores))
    await system.start()
    gateway = await start_api(system, settings, stores)
    try:
        admin = await new_carrier_admin_key(
            f"localhost:{port}", (run / "inproc" / "op.token").read_text().strip(),
            ca_file=run / "inproc" / "tls" / "ca.pem", name="call_setup profile")
        clients, exts = await setup_tenant(f"localhost:{port}", run / "inproc" / "tls" / "ca.pem",
                                           admin, args.concurrency, args.channels)
        profiler = cProfile.Profile()
        profiler.enable()
        result = await drive(clients, exts, args.profile_seconds, 1.0)
        profiler.disable()
        for c in clients:
            await c.close()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
        stats.print_stats(30)
        print(out.getvalue(), file=sys.stderr)
        return result
    finally:
        await gateway.stop()
        await system.stop()
        await stores.close()


# ---- main -----------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from cluster.ray_local import LocalRayCluster

    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    run = Path(tempfile.mkdtemp(prefix="bench-call-setup-"))
    out: dict[str, Any] = {}
    if args.profile:
        out["in_process"] = await profile_in_process(args, run)
    jvm_pid = cassandra_pid(args.cassandra_pid, args.cassandra_dir) if args.cassandra else None
    cluster = LocalRayCluster(nodes=1, cpus_per_node=os.cpu_count() or 2).start()
    try:
        out["embedded"] = await bench_fabric(args, run / "embedded", jvm_pid=jvm_pid)
        if args.cassandra:
            out["cassandra"] = await bench_fabric(args, run / "cassandra", args.cassandra,
                                                  jvm_pid)
        if args.ray_baseline or not args.cassandra:
            out["baseline"] = await bench_baseline(args, run)
    finally:
        cluster.stop()
    return out


def _num(value: float) -> float | None:
    return None if value != value else round(value, 1)  # NaN (no sample) -> null


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=32, help="concurrent caller/callee pairs")
    p.add_argument("--channels", type=int, default=4, help="gRPC channels shared by them")
    p.add_argument("--tenants", type=int, default=1,
                   help="tenants the pairs are spread over (each has its own active-call index)")
    p.add_argument("--hosts", type=int, default=1, help="actor host processes")
    p.add_argument("--baseline-seconds", type=float, default=15.0)
    p.add_argument("--baseline-concurrency", type=int, default=4)
    p.add_argument("--cassandra", default="",
                   help="host:port: a second phase with every store on Cassandra")
    p.add_argument("--cassandra-dir", type=Path, default=DEFAULT_DIR,
                   help="the launcher folder of the node (its role, password, CA and pid)")
    p.add_argument("--cassandra-pid", type=int, default=0,
                   help="the Cassandra JVM's pid (default: the launcher's node)")
    p.add_argument("--ray-baseline", action="store_true",
                   help="also run the one-Ray-actor-per-call baseline with --cassandra")
    p.add_argument("--profile", action="store_true", help="also profile in one process")
    p.add_argument("--profile-seconds", type=float, default=10.0)
    p.add_argument("--idle-seconds", type=float, default=3.0,
                   help="measure each process group's CPU with no load first (0: skip)")
    p.add_argument("--count-requests", action="store_true",
                   help="count each host's Cassandra requests per lifecycle, by statement")
    p.add_argument("--profile-hosts", action="store_true",
                   help="cProfile the gateway and actor host processes during the run")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    print(json.dumps(out, default=str), file=sys.stderr)
    embedded = out["embedded"]
    ours = out.get("cassandra", embedded)
    if "cassandra" in out:
        base_name, base = "embedded", embedded
    else:
        base_name, base = "ray-actor-per-call", out["baseline"]
    line = {
        "bench": "call_setup",
        "store": "cassandra" if "cassandra" in out else "embedded",
        "value": round(ours["rate"], 1),
        "unit": "lifecycles/s",
        "baseline": round(base["rate"], 1),
        "baseline_is": base_name,
        "ratio": round(ours["rate"] / base["rate"], 2) if base["rate"] else None,
        "p50_dial_to_ringing_ms": _num(ours["p50_ringing_ms"]),
        "p99_dial_to_ringing_ms": _num(ours["p99_ringing_ms"]),
        "cpu_ms_per_lifecycle": ours["cpu_ms_per_lifecycle"],
        "idle_cpu_ms_per_s": ours.get("idle_cpu_ms_per_s", {}),
        **({"requests_per_lifecycle": ours["requests_per_lifecycle"]}
           if "requests_per_lifecycle" in ours else {}),
        "baseline_p50_dial_to_ringing_ms": _num(base["p50_ringing_ms"]),
        "baseline_p99_dial_to_ringing_ms": _num(base["p99_ringing_ms"]),
        "baseline_cpu_ms_per_lifecycle": base.get("cpu_ms_per_lifecycle", {}),
        "baseline_idle_cpu_ms_per_s": base.get("idle_cpu_ms_per_s", {}),
        "errors": sum(ours["errors"].values()),
        "concurrency": args.concurrency,
        "tenants": args.tenants,
        "target": {"ratio": 0.7, "p99_dial_to_ringing_ms": 100},
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())

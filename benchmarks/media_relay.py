"""Benchmark of the SRTP relay's data planes against each other and against rtpengine.

One run measures, side by side, with the same load generator (N concurrent G.711 calls,
50 packets/s per leg each way, SDES AES_CM_128_HMAC_SHA1_80 on both legs with different keys,
every packet decrypted and re-encrypted):
(a) ``forwarder``: our compiled loop with SRTP replaced by a no-op (recvmmsg/sendmmsg on the
    same sockets, same bookkeeping): the physical limit of this sockets pattern;
(b) ``compiled``: our relay on its compiled data plane (fabric.media.fastpath), in processes
    of its own (``--relays``: auto = one per 500 calls, at most one per core, each on its own
    slice of the port range); ``python``: the same relay on the Python path (the fall-back);
(c) ``rtpengine``: Debian's rtpengine 10.5 in userspace (``--table=-1``) when installed
    (``make bench-deps``), driven over its ng protocol (benchmarks/mediabench/rtpengine.py):
    the caller offers two crypto lines with different keys, the callee answers the second,
    which makes rtpengine decrypt and re-encrypt both directions (see that module);
    ``rtpengine_passthrough`` (not run by default): the control where it forwards without
    crypto, to show what the re-encryption costs it.
Figures per load: forwarded packets per second of relay CPU time (all the relay processes'
threads), loss, latency generator send -> generator receive (p50/p99), the 1-minute load
average of the machine when the run ended. The crypto ceilings (pylibsrtp, direct libsrtp)
are printed too. The JSON line last: value = compiled, baseline = rtpengine (or the Python
path when rtpengine could not run; ``baseline_what`` says which), at the largest load the
baseline kept up with (forwarded >= 90% of the offered packets; ``by_calls`` has every load).
Usage: python benchmarks/media_relay.py [--calls 100,250,500,1000] [--seconds 6]
[--relays auto|N] [--modes forwarder,compiled,python,rtpengine] [--suite-b ...]

SRTP of the compiled relay: AES_CM_128_HMAC_SHA1_80 RTP on the precomputed OpenSSL transform
(fabric/media/srtp_aescm.py; ``srtp_transform`` in the JSON line says which ran); run with
``FABRIC_MEDIA_SRTP_TRANSFORM=libsrtp`` to measure the same relay on libsrtp.

The load generator is compiled (benchmarks/mediabench/loadgen.c): packets are encrypted
before the timed window, sent with ``sendto`` on the schedule (the 20 ms frame split into
10 slots, like unsynchronised phones) and read with ``recvmmsg``; only the RTP header is
read back (sequence numbers identify packets), so the generator costs little next to the
relay it measures.

``--fork``: the cost of recording (issue 11). For each load, the same run twice in the same
relay process, alternating: without forks (baseline), then with a recording fork on every
call (both directions decoded, aligned and sealed into a real content store: the embedded
backend in a temporary folder, so only sealed chunks reach the disk). Prints relay packets
per second per core with forks (value) against without (baseline), their ratio, the added
latency and loss, and the forks' drops. Target: ratio >= 0.7, no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop  # noqa: E402

from fabric.media.legs import srtp_session  # noqa: E402
from fabric.media.rtp import build_receiver_report  # noqa: E402
from fabric.media.srtp_fast import SrtpContext  # noqa: E402
from fabric.media.suites import SrtpSuite, new_key_material  # noqa: E402
from fabric.media.types import MediaOffer  # noqa: E402

SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80
PORT_MIN, PORT_MAX = 46000, 49999
PAYLOAD = bytes(range(160))
SLOTS = 10


def rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, ssrc) + PAYLOAD


def crypto_ceiling(count: int = 30000, direct: bool = False) -> float:
    """Packets/s per core of unprotect + protect (the relay's crypto work per packet).

    ``direct=False``: pylibsrtp's public ``Session`` API (the issue's ceiling);
    ``direct=True``: the same libsrtp calls through :class:`SrtpContext`, as the relay does.
    """
    k_in, k_out = new_key_material(SUITE), new_key_material(SUITE)
    sender = srtp_session(SUITE, *k_in, inbound=False)
    packets = [bytes(sender.protect(rtp(i, 1234))) for i in range(count)]
    rx = srtp_session(SUITE, *k_in, inbound=True)
    tx = srtp_session(SUITE, *k_out, inbound=False)
    if direct:
        frx, ftx = SrtpContext(rx), SrtpContext(tx)
        start = time.process_time()
        for packet in packets:
            ftx.protect(frx.unprotect(packet))  # type: ignore[arg-type]
        return count / (time.process_time() - start)
    start = time.process_time()
    for packet in packets:
        tx.protect(rx.unprotect(packet))
    return count / (time.process_time() - start)


# ---- the relay process ----------------------------------------------------------------


def relay_main(conn: Any, mode: str = "compiled", ports: tuple[int, int] = (PORT_MIN, PORT_MAX)
               ) -> None:
    """The relay process. ``mode``: ``compiled`` (the default data plane), ``python`` (the
    fall-back path), ``forwarder`` (the compiled loop with SRTP replaced by a no-op: the
    batched UDP forwarder without crypto, the physical limit of the same sockets pattern)."""
    from fabric.media.engine import RelayConfig, RelayEngine
    from fabric.media.fastpath import FastPlane, load_plane_module

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    import tempfile

    from fabric.config import StorageSettings, VaultSettings
    from fabric.media.feature_types import ForkSpec, SealTarget
    from fabric.media.sealsink import LazyContentStore

    folder = tempfile.TemporaryDirectory(prefix="bench-fork-")
    content = LazyContentStore(
        StorageSettings(backend="embedded", data_dir=Path(folder.name) / "data"),
        VaultSettings(root_key_file=Path(folder.name) / "keys" / "root.key"),
    )
    engine = RelayEngine(
        RelayConfig(port_min=ports[0], port_max=ports[1], media_timeout_s=3600, idle_session_s=1e9,
                    dataplane="python" if mode == "python" else "auto"),
        content,
    )
    if mode != "python" and engine.dataplane != "compiled":
        raise SystemExit("the compiled data plane did not load (see the log line)")
    if mode == "forwarder":
        module = load_plane_module()
        assert module is not None
        engine._plane = FastPlane(module, ports[1] - ports[0] + 1, crypto=False)
    forks_made = [0]

    async def handle(cmd: str, arg: Any) -> Any:
        if cmd == "setup":
            answers = []
            for call, offers in arg:
                engine.allocate_session(call)
                answers.append([await engine.add_leg(call, leg, offer) for leg, offer in offers])
            return answers
        if cmd == "webrtc":
            call, leg, sdp = arg
            return await engine.add_webrtc_leg(call, leg, sdp)
        if cmd == "allocate":
            return engine.allocate_session(arg)
        if cmd == "add_leg":
            call, leg, offer = arg
            return await engine.add_leg(call, leg, offer)
        if cmd == "fork_all":
            await engine.features.prepare()  # open the store before the timed window
            for call in list(engine.sessions):
                forks_made[0] += 1
                target = SealTarget("t-bench", "recording", f"rec-{forks_made[0]}")
                engine.start_fork(call, ForkSpec(target, announcement_prompt=""))
            return len(engine.features.forks)
        if cmd == "fork_stats":
            c = engine.features.counters
            return {"fork_drops": c.fork_drops, "recorded_bytes": c.recording_bytes["recording"]}
        if cmd == "cpu":
            return time.process_time()
        if cmd == "totals":
            t = engine.totals()
            return {k: getattr(t, k) for k in type(t).__slots__}
        if cmd == "release":
            for call in list(engine.sessions):
                await engine.release_session(call)
            await engine.features.close()  # forks sealed at the calls' end
            await asyncio.sleep(0.05)
            return engine.counts()
        raise ValueError(cmd)

    def commands() -> None:
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                loop.call_soon_threadsafe(loop.stop)
                return
            if cmd in ("cpu", "totals"):  # answered at once, not queued behind the packets
                if cmd == "cpu":
                    conn.send(time.process_time())
                else:
                    t = engine.totals()
                    conn.send({k: getattr(t, k) for k in type(t).__slots__})
                continue
            future = asyncio.run_coroutine_threadsafe(handle(cmd, arg), loop)
            conn.send(future.result())

    threading.Thread(target=commands, daemon=True).start()
    loop.run_forever()


# ---- the load generator ------------------------------------------------------------------


class GenLeg:
    """One simulated phone: its socket, SRTP key and pre-encrypted packets."""

    def __init__(self, index: int, suite: SrtpSuite = SUITE) -> None:
        self.index = index
        self.suite = suite
        self.key = new_key_material(suite)
        self.tx = srtp_session(suite, *self.key, inbound=False)
        self.packets: list[bytes] = []
        self.remote: tuple[str, int] = ("", 0)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)


def _sum(values: list[Any]) -> Any:
    if isinstance(values[0], dict):
        return {k: _sum([v[k] for v in values]) for k in values[0]}
    if values[0] is None:
        return None
    return sum(values)


class RelayGroup:
    """Several relay processes behind the one command interface ``run_load`` drives: calls
    are dealt round-robin, CPU and counters are summed (each relay owns a port slice)."""

    def __init__(self, conns: list[Any]) -> None:
        self.conns = conns
        self._reply: Any = None

    def send(self, message: tuple[str, Any]) -> None:
        """One command to every relay (``setup``: each its share of the calls)."""
        cmd, arg = message
        k = len(self.conns)
        if cmd == "setup":
            for i, conn in enumerate(self.conns):
                conn.send((cmd, arg[i::k]))
            parts = [conn.recv() for conn in self.conns]
            self._reply = [parts[i % k][i // k] for i in range(len(arg))]
            return
        for conn in self.conns:
            conn.send(message)
        self._reply = _sum([conn.recv() for conn in self.conns])

    def recv(self) -> Any:
        """The reply to the last :meth:`send`."""
        return self._reply


def run_load(
    conn: Any, calls: int, seconds: float, fork: bool = False, suite_b: SrtpSuite = SUITE
) -> dict[str, Any]:
    """Drive ``calls`` calls for ``seconds`` (+1 s warm-up) with the compiled generator
    (benchmarks/mediabench/loadgen.c): pre-encrypted packets, sent on the 20 ms schedule in
    ``SLOTS`` sub-slots, arrivals timed in C, so the generator costs little next to the relay.
    """
    from benchmarks.mediabench.loadgen import Generator

    legs = [GenLeg(i, SUITE if i % 2 == 0 else suite_b) for i in range(2 * calls)]
    setup = [
        (
            f"bench-{i}",
            [
                (leg, MediaOffer(legs[2 * i + j].suite.value, *legs[2 * i + j].key, "127.0.0.1",
                                 legs[2 * i + j].sock.getsockname()[1]))
                for j, leg in enumerate("ab")
            ],
        )
        for i in range(calls)
    ]
    conn.send(("fork_stats", None))
    fork_stats0 = conn.recv()
    conn.send(("setup", setup))
    answers = conn.recv()
    for i, pair in enumerate(answers):
        for j, answer in enumerate(pair):
            legs[2 * i + j].remote = (answer.relay_host, answer.relay_port)
    warm = 50
    frames = int(seconds * 50) + warm
    for leg in legs:
        leg.packets = [bytes(leg.tx.protect(rtp(seq, 0x1000 + leg.index))) for seq in range(frames)]
        leg.sock.sendto(bytes(leg.tx.protect_rtcp(build_receiver_report(leg.index))), leg.remote)
    gen = Generator([leg.sock for leg in legs], [i ^ 1 for i in range(len(legs))],
                    [leg.remote for leg in legs], [leg.packets for leg in legs], warm, SLOTS)
    gen.pump(gen.clock() + 0.3)  # latching
    if fork:
        conn.send(("fork_all", None))
        assert conn.recv() == calls, "a fork did not start"
    start = gen.clock()
    gen.send(0, warm, start)
    conn.send(("cpu", None))
    cpu0 = conn.recv()
    conn.send(("totals", None))
    totals0 = conn.recv()
    wall0 = gen.clock()
    delivered0 = gen.total_received()
    late = gen.send(warm, frames, start)
    wall1 = gen.clock()
    conn.send(("cpu", None))
    cpu1 = conn.recv()
    conn.send(("totals", None))
    totals1 = conn.recv()
    delivered1 = gen.total_received()
    # drain: keep reading until everything sent has come back or nothing arrives for 2 s;
    # a relay that falls behind shows as latency, a packet never delivered as loss
    sent_total = frames * len(legs)
    quiet_until = gen.clock() + 2.0
    last = -1
    while gen.clock() < quiet_until:
        gen.pump(gen.clock() + 0.1)
        now_received = gen.total_received()
        if now_received >= sent_total:
            break
        if now_received != last:
            last = now_received
            quiet_until = gen.clock() + 2.0
    received_total = gen.total_received()
    if totals1["packets_out"] is None:  # rtpengine: what the generator received meanwhile
        forwarded = delivered1 - delivered0
    else:
        forwarded = totals1["packets_out"] - totals0["packets_out"]
    relay_cpu = cpu1 - cpu0
    wall = wall1 - wall0
    latencies = sorted(gen.latencies())
    passthrough = gen.total_passthrough()
    gen.close()
    conn.send(("release", None))
    counts = conn.recv()
    conn.send(("fork_stats", None))
    fork_stats = {k: v - fork_stats0[k] for k, v in conn.recv().items()}
    for leg in legs:
        leg.sock.close()
    return {
        "calls": calls,
        "offered_pps": len(legs) * 50,
        "forwarded_pps": round(forwarded / wall, 1),
        "generator_late_s": round(late, 4),
        "relay_cpu_util": round(relay_cpu / wall, 3),
        "pps_per_core": round(forwarded / relay_cpu, 1) if relay_cpu > 0 else 0.0,
        "loss": round(1 - received_total / sent_total, 6),
        "lost_packets": sent_total - received_total,
        "latency_ms_p50": round(1000 * statistics.median(latencies), 3) if latencies else None,
        "latency_ms_p99": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3)
        if latencies
        else None,
        "late_over_50ms": round(sum(1 for x in latencies if x > 0.050) / max(1, len(latencies)), 5),
        "sessions_left": counts["sessions"],
        "ports_left": counts["ports_in_use"],
        "forks": fork,
        "suites": f"{SUITE.value}<->{suite_b.value}",
        "passthrough_packets": passthrough,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **fork_stats,
    }


async def bridge_cost(conn: Any, webrtc: bool, seconds: float = 4.0) -> float:
    """Relay CPU µs per forwarded packet for one call, SDES<->WebRTC or SDES<->SDES."""
    from fabric.client.phone_media import SoftphoneMedia
    from fabric.client.webrtc_phone import WebRtcPhone
    from fabric.media.g711 import sweep_ulaw

    def ask(cmd: str, arg: Any) -> Any:
        conn.send((cmd, arg))
        return conn.recv()

    call = f"cost-{'webrtc' if webrtc else 'sdes'}"
    ask("allocate", call)
    phone = SoftphoneMedia()
    await phone.start(ask("add_leg", (call, "sdk", phone.offer())))
    phone.latch()
    other: Any
    if webrtc:
        other = WebRtcPhone()
        await other.accept(ask("webrtc", (call, "browser", await other.offer())))
        await other.wait_connected(15.0)
    else:
        other = SoftphoneMedia()
        await other.start(ask("add_leg", (call, "peer", other.offer())))
        other.latch()
    await asyncio.sleep(0.5)
    audio = sweep_ulaw(seconds)
    cpu0, out0 = ask("cpu", None), ask("totals", None)["packets_out"]
    if webrtc:
        other.source.play(audio)
        await asyncio.gather(phone.send_ulaw(audio), other.wait_played(seconds * 3))
    else:
        await asyncio.gather(phone.send_ulaw(audio), other.send_ulaw(audio))
    await asyncio.sleep(0.2)
    cpu1, out1 = ask("cpu", None), ask("totals", None)["packets_out"]
    ask("release", None)
    await phone.close()
    await other.close()
    return 1e6 * (cpu1 - cpu0) / max(1, out1 - out0)


def fork_main(calls_list: list[int], seconds: float, rounds: int) -> None:
    """Relay throughput with recording forks on every call against the same without."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    relay = ctx.Process(target=relay_main, args=(child,), daemon=True)
    relay.start()
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for calls in calls_list:
            for _ in range(rounds):
                plain = run_load(parent, calls, seconds)
                print(json.dumps(plain), file=sys.stderr)
                forked = run_load(parent, calls, seconds, fork=True)
                print(json.dumps(forked), file=sys.stderr)
                pairs.append((plain, forked))
    finally:
        parent.send(("stop", None))
        relay.join(5)
        if relay.is_alive():
            relay.kill()
    # the largest load decides (forking cost shows most under load); median over rounds
    top = [p for p in pairs if p[0]["calls"] == max(calls_list)]
    value = statistics.median(f["pps_per_core"] for _, f in top)
    baseline = statistics.median(b["pps_per_core"] for b, _ in top)

    def latency(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] or 0.0 for r in runs)

    forked_runs, plain_runs = [f for _, f in top], [b for b, _ in top]
    print(
        json.dumps(
            {
                "bench": "media_relay_fork",
                "value": value,
                "unit": "forwarded packets/s per core of relay CPU, recording fork on every call",
                "baseline": baseline,
                "baseline_what": "the same load in the same relay without forks",
                "ratio": round(value / baseline, 3) if baseline else 0.0,
                "calls": max(calls_list),
                "added_latency_ms_p50": round(
                    latency(forked_runs, "latency_ms_p50") - latency(plain_runs, "latency_ms_p50"),
                    3,
                ),
                "added_latency_ms_p99": round(
                    latency(forked_runs, "latency_ms_p99") - latency(plain_runs, "latency_ms_p99"),
                    3,
                ),
                "lost_packets_with_forks": sum(f["lost_packets"] for f in forked_runs),
                "lost_packets_without": sum(b["lost_packets"] for b in plain_runs),
                "fork_drops": sum(f["fork_drops"] for _, f in pairs),
                "cpu_count": os.cpu_count(),
                "runs": [r for pair in pairs for r in pair],
            }
        )
    )


def start_relay(mode: str, ports: tuple[int, int] = (PORT_MIN, PORT_MAX)) -> tuple[Any, Any]:
    """A relay process in ``mode`` (see :func:`relay_main`) on ``ports``, and its pipe."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    relay = ctx.Process(target=relay_main, args=(child, mode, ports), daemon=True)
    relay.start()
    return relay, parent


def stop_relay(relay: Any, conn: Any) -> None:
    """Stop a relay process started by :func:`start_relay`."""
    conn.send(("stop", None))
    relay.join(5)
    if relay.is_alive():
        relay.kill()


def srtp_transform() -> str:
    """Which SRTP transform the compiled relays use for this suite (the same environment)."""
    from fabric.media.fastpath import load_plane_module
    from fabric.media.srtp_aescm import transform_name

    return transform_name(load_plane_module())


MODES = ("forwarder", "compiled", "python", "rtpengine")  # also: rtpengine_passthrough
CALLS_PER_RELAY = 500


def relays_for(calls: int, wanted: str) -> int:
    """Relay processes for a load: ``--relays N``, or ``auto``: one per 500 calls (a relay
    process is one data-plane thread; a node runs one per core), at most one per core."""
    if wanted != "auto":
        return max(1, int(wanted))
    return max(1, min(os.cpu_count() or 1, -(-calls // CALLS_PER_RELAY)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="100,250,500", help="comma-separated concurrent calls")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per load")
    parser.add_argument("--relays", default="auto",
                        help="relay processes per load (ours and the forwarder): N, or auto = "
                        "one per 500 calls, at most one per core")
    parser.add_argument("--fork", action="store_true", help="recording forks vs. none (issue 11)")
    parser.add_argument("--rounds", type=int, default=2, help="--fork: alternations per load")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="data planes to measure: forwarder, compiled, python, rtpengine")
    parser.add_argument("--suite-b", default=SUITE.value,
                        choices=[s.value for s in SrtpSuite],
                        help="the callee's suite (the caller's is AES_CM_128_HMAC_SHA1_80, "
                        "the issue's condition: the same suite on both legs)")
    args = parser.parse_args()
    suite_b = SrtpSuite(args.suite_b)
    if args.fork:
        fork_main([int(c) for c in args.calls.split(",")], args.seconds, args.rounds)
        return
    calls_list = [int(c) for c in args.calls.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    ceiling = crypto_ceiling()
    direct_ceiling = crypto_ceiling(direct=True)
    table: dict[str, list[dict[str, Any]]] = {}
    sdes_us = webrtc_us = 0.0
    for mode in modes:
        if mode in ("rtpengine", "rtpengine_passthrough"):
            from benchmarks.mediabench.rtpengine import rtpengine_runs

            table[mode] = rtpengine_runs(calls_list, args.seconds, run_load, suite_b,
                                         recrypt=mode == "rtpengine")
            continue
        counts = {calls: relays_for(calls, args.relays) for calls in calls_list}
        k_max = max(counts.values())
        width = (PORT_MAX - PORT_MIN + 1) // k_max
        started = [start_relay(mode, (PORT_MIN + i * width, PORT_MIN + (i + 1) * width - 1))
                   for i in range(k_max)]
        try:
            table[mode] = []
            for calls in calls_list:
                group = RelayGroup([conn for _, conn in started[: counts[calls]]])
                run = run_load(group, calls, args.seconds, suite_b=suite_b)
                run["mode"] = mode
                run["relay_processes"] = counts[calls]
                table[mode].append(run)
                print(json.dumps(run), file=sys.stderr)
            if mode == "compiled":
                conn = started[0][1]
                sdes_us = uvloop.run(bridge_cost(conn, webrtc=False))
                webrtc_us = uvloop.run(bridge_cost(conn, webrtc=True))
        finally:
            for relay, conn in started:
                stop_relay(relay, conn)
    for calls_index, calls in enumerate(calls_list):
        row = {m: table[m][calls_index] for m in table if table[m]}
        print(
            f"{calls:5d} calls  "
            + "  ".join(
                f"{m}: {r['pps_per_core']:>9.0f} pkt/s/core loss {r['loss']:.4f} "
                f"p50 {r['latency_ms_p50']} p99 {r['latency_ms_p99']} ms"
                for m, r in row.items()
            ),
            file=sys.stderr,
        )
    ours = table.get("compiled") or []
    base_mode = "rtpengine" if table.get("rtpengine") else "python"
    base = table.get(base_mode) or []
    # the largest load the baseline kept up with (forwarded >= 90% of what was offered while
    # measured): past it the baseline falls behind and its packets/s per core says nothing
    kept_up = [r["calls"] for r in base if r["forwarded_pps"] >= 0.9 * r["offered_pps"]]
    top = max(kept_up) if kept_up else max(calls_list)
    value = next((r["pps_per_core"] for r in ours if r["calls"] == top), 0.0)
    baseline = next((r["pps_per_core"] for r in base if r["calls"] == top), 0.0)
    limit = next((r["pps_per_core"] for r in table.get("forwarder", []) if r["calls"] == top), 0.0)
    print(
        json.dumps(
            {
                "bench": "media_relay",
                "value": value,
                "unit": f"forwarded packets/s per core of relay CPU, {top} calls, compiled",
                "baseline": baseline,
                "baseline_what": (
                    "rtpengine userspace, decrypt + re-encrypt"
                    if base_mode == "rtpengine"
                    else "our Python data plane (rtpengine not measured)"
                ),
                "ratio": round(value / baseline, 3) if baseline else 0.0,
                "forwarder_no_crypto": limit,
                "ratio_to_forwarder": round(value / limit, 3) if limit else 0.0,
                "by_calls": [
                    {"calls": calls, **{m: table[m][i]["pps_per_core"] for m in table if table[m]},
                     "p99_ms": {m: table[m][i]["latency_ms_p99"] for m in table if table[m]},
                     "baseline_kept_up": calls in kept_up}
                    for i, calls in enumerate(calls_list)
                ],
                "srtp_transform": srtp_transform(),
                "pylibsrtp_ceiling": round(ceiling, 1),
                "direct_libsrtp_ceiling": round(direct_ceiling, 1),
                "cpu_count": os.cpu_count(),
                "one_call_relay_us_per_packet": {
                    "sdes_to_sdes": round(sdes_us, 1),
                    "sdes_to_webrtc": round(webrtc_us, 1),
                },
                "runs": [r for m in table for r in table[m]],
            }
        )
    )


if __name__ == "__main__":
    main()

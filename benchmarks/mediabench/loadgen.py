"""The media benchmark's compiled load generator (``loadgen.c``, cffi API mode).

The Python generator could not offer more than ~500 calls on this machine without being the
bottleneck itself; this one sends pre-encrypted packets with ``sendto`` on the schedule and
reads with ``recvmmsg`` in one C thread. It is built on first use into
``.cache/mediabench/<hash>`` (ignored by git); it needs a C compiler and cffi, as the relay's
compiled data plane does.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

from fabric.media._fastpath.build import CffiModule

_HERE = Path(__file__).resolve().parent
LOADGEN = CffiModule(
    "_fabric_loadgen", _HERE, "loadgen.h", "loadgen.c", "int gen_init",
    tagged=("loadgen.h", "loadgen.c", "loadgen.py"),
)
"""The load generator's C loop, built like the relay's data plane."""


def load() -> Any:
    """The compiled module (built on first use)."""
    return LOADGEN.load(_HERE.parents[1] / ".cache" / "mediabench" / LOADGEN.tag())


class Generator:
    """Legs (sockets), their pre-encrypted packets and the arrays the C loop fills."""

    def __init__(self, socks: list[socket.socket], peer: list[int],
                 remotes: list[tuple[str, int]], packets: list[list[bytes]], warm: int,
                 slots: int, frame_s: float = 0.020) -> None:
        self.mod = load()
        ffi = self.ffi = self.mod.ffi
        n, frames = len(socks), len(packets[0])
        stride = max(len(p) for leg in packets for p in leg)
        self.nlegs, self.frames = n, frames
        self._keep: list[Any] = []

        def arr(ctype: str, init: Any) -> Any:
            a = ffi.new(ctype, init)
            self._keep.append(a)
            return a

        raw = bytearray(n * frames * stride)
        lens = []
        for i, leg in enumerate(packets):
            for f, p in enumerate(leg):
                off = (i * frames + f) * stride
                raw[off : off + len(p)] = p
                lens.append(len(p))
        remote = bytearray()
        for host, port in remotes:
            remote += socket.AF_INET.to_bytes(2, sys.byteorder) + port.to_bytes(2, "big")
            remote += socket.inet_aton(host) + bytes(8)
        g = self.g = ffi.new("gen_t *")
        g.nlegs, g.frames, g.stride, g.warm, g.slots = n, frames, stride, warm, slots
        g.efd = g.tfd = -1
        g.frame_s = frame_s
        g.fds = arr("int[]", [s.fileno() for s in socks])
        g.peer = arr("int[]", peer)
        g.remote = arr("unsigned char[]", bytes(remote))
        g.packets = arr("unsigned char[]", bytes(raw))
        g.lens = arr("int[]", lens)
        g.sent_at = self.sent_at = arr("double[]", n * frames)
        g.latency = self.latency = arr("float[]", [-1.0] * (n * frames))
        g.received = self.received = arr("long long[]", n)
        g.passthrough = self.passthrough = arr("long long[]", n)
        if self.mod.lib.gen_init(g) != 0:
            raise OSError("the load generator could not set up epoll/timerfd")

    def clock(self) -> float:
        """CLOCK_MONOTONIC, as the C loop reads it."""
        return float(self.mod.lib.gen_clock())

    def send(self, f0: int, f1: int, start: float) -> float:
        """Send frames [f0, f1) on the schedule from ``start``; lateness of the last slot."""
        return float(self.mod.lib.gen_send(self.g, f0, f1, start))

    def pump(self, until: float) -> None:
        """Read what arrives until ``until``."""
        self.mod.lib.gen_pump(self.g, until)

    def total_received(self) -> int:
        """RTP packets received over all legs."""
        return sum(self.received[i] for i in range(self.nlegs))

    def latencies(self) -> list[float]:
        """Measured one-way latencies (seconds) of the timed packets."""
        lat = self.ffi.unpack(self.latency, self.nlegs * self.frames)
        return [x for x in lat if x >= 0.0]

    def total_passthrough(self) -> int:
        """Timed packets that came back byte-identical to what the peer sent."""
        return sum(self.passthrough[i] for i in range(self.nlegs))

    def close(self) -> None:
        """Close the epoll and timer descriptors (the sockets are the caller's)."""
        self.mod.lib.gen_close(self.g)

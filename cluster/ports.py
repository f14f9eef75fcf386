"""Pick free loopback ports for servers that tests and benchmarks start.

Binding port 0 hands out a port from Linux's ephemeral range (32768-60999), and so do Ray's
workers, raylets and object managers for their own sockets: a port found free by binding 0
and released is easily taken again before our server binds it. Ports here come from a band
below that range (15000-19999 by default), where nothing else on the machine picks ports
at random.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 15000, 19999


def free_tcp_port(low: int = LOW, high: int = HIGH, attempts: int = 200) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, from ``[low, high]``."""
    candidates = random.sample(range(low, high + 1), k=min(attempts, high - low + 1))
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {low}-{high} after {len(candidates)} tries")


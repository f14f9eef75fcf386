"""The UDP port range of one relay.

A relay owns ``[port_min, port_max]`` and gives each leg a port of its own (RTP and RTCP
multiplexed on it, RFC 5761). Ports are handed out FIFO so a port just freed is the last to
be reused (late packets of an ended call land nowhere instead of in a new call), and a port
another process holds is skipped by the caller (see :meth:`PortAllocator.put_back_busy`).
"""

from __future__ import annotations

from collections import deque

from fabric.errors import InvalidArgument, ResourceExhausted


class PortAllocator:
    """Free/used bookkeeping of a port range; no sockets here."""

    def __init__(self, port_min: int, port_max: int) -> None:
        if not 1024 <= port_min <= port_max <= 65535:
            raise InvalidArgument(
                f"media port range {port_min}..{port_max} is invalid; set "
                "media.port_min <= media.port_max within 1024..65535",
                error_id="media-bad-port-range",
            )
        self._free: deque[int] = deque(range(port_min, port_max + 1))
        self._used: set[int] = set()
        self.size = port_max - port_min + 1

    @property
    def in_use(self) -> int:
        """How many ports are handed out."""
        return len(self._used)

    def take(self) -> int:
        """Hand out a free port; ``ResourceExhausted`` when the range is used up."""
        if not self._free:
            raise ResourceExhausted(
                f"all {self.size} media ports of this relay are in use; widen "
                "media.port_min..media.port_max or add relays (media.relays_per_node)",
                error_id="media-ports-exhausted",
            )
        port = self._free.popleft()
        self._used.add(port)
        return port

    def give_back(self, port: int) -> None:
        """Return a port taken earlier; returning it twice is harmless."""
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    def put_back_busy(self, port: int) -> None:
        """A taken port could not be bound (another process has it): retry it last."""
        self.give_back(port)

"""A leg served by the compiled data plane, and its hand-over to the Python path.

:class:`FastLeg` is what the session sees of an SDES leg whose packets the C loop handles
(:mod:`fabric.media.fastpath`): its counters, liveness and remote address are read from the
C slot; setting ``peers`` rewires the slot. The socket and the SRTP contexts (libsrtp
sessions, and the precomputed RTP transforms of :mod:`fabric.media.srtp_aescm`) stay Python
objects (so the hand-over keeps the SRTP state: rollover counters, replay windows).

:meth:`FastLeg.to_python` hands a detached leg to the Python path: an
:class:`fabric.media.legs.SdesLeg` with the same socket, SRTP sessions, remote, latching
state and counters, read by the event loop (``add_reader``). The engine does this for a
whole session before a feature that needs Python per packet starts (a recording fork's
taps, a play/record leg) or a WebRTC leg joins; such a session stays on the Python path.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import pylibsrtp

from fabric.media.fastpath import FastPlane
from fabric.media.legs import Leg, SdesLeg
from fabric.media.srtp_aescm import AesCmContext
from fabric.media.srtp_fast import SrtpContext
from fabric.media.suites import SrtpSuite
from fabric.media.types import LegStats

log = logging.getLogger(__name__)
_CLOCK = 8000.0


def ipv4_to_c(host: str, port: int) -> tuple[int, int]:
    """An (address, port) as the C slot stores them (network byte order in memory)."""
    return int.from_bytes(socket.inet_aton(host), "little"), socket.htons(port)


def _from_c(ip: int, port: int) -> tuple[str, int]:
    return socket.inet_ntoa(int(ip).to_bytes(4, "little")), socket.ntohs(int(port))


def srtp_address(session: pylibsrtp.Session) -> int:
    """The libsrtp context (``srtp_t``) of a pylibsrtp session, as an integer."""
    from pylibsrtp._binding import ffi

    return int(ffi.cast("uintptr_t", session._srtp[0]))  # type: ignore[attr-defined]


def _counter(name: str) -> property:
    def get(self: FastLeg) -> int:
        return int(getattr(self._slot, name))

    def set_(self: FastLeg, value: int) -> None:
        setattr(self._slot, name, value)

    return property(get, set_, doc=f"The C slot's {name} counter.")


class FastLeg(Leg):
    """An SDES-SRTP leg whose packets the compiled loop receives, checks and forwards."""

    __slots__ = ("plane", "handle", "sock", "port", "suite", "rx", "tx", "_slot",
                 "_on_closed", "_peer_legs", "_detached", "_closed")

    packets_in = _counter("packets_in")
    bytes_in = _counter("bytes_in")
    packets_out = _counter("packets_out")
    bytes_out = _counter("bytes_out")
    rtcp_in = _counter("rtcp_in")
    rtcp_out = _counter("rtcp_out")
    drop_auth = _counter("drop_auth")
    drop_replay = _counter("drop_replay")
    drop_source = _counter("drop_source")
    drop_malformed = _counter("drop_malformed")
    drop_no_peer = _counter("drop_no_peer")

    def __init__(
        self,
        leg_id: str,
        plane: FastPlane,
        sock: socket.socket,
        suite: SrtpSuite,
        rx: SrtpContext,
        tx: SrtpContext,
        on_closed: Callable[[int], None],
        declared: tuple[str, int] | None,
    ) -> None:
        # not Leg.__init__: the counters live in the C slot
        self.leg_id = leg_id
        self.kind = "sdes"
        self.tap = None
        self.plane = plane
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.suite = suite
        self.rx, self.tx = rx, tx
        self._on_closed = on_closed
        self._peer_legs: tuple[Leg, ...] = ()
        self._detached = self._closed = False
        ip, port = ipv4_to_c(*declared) if declared else (0, 0)
        self.handle = plane.add(
            sock.fileno(), srtp_address(rx.session), srtp_address(tx.session), ip, port,
            rx.address() if isinstance(rx, AesCmContext) else 0,
            tx.address() if isinstance(tx, AesCmContext) else 0,
        )
        self._slot: Any = plane.leg(self.handle)
        self.created = float(self._slot.created)

    # what the session and the engine read ---------------------------------------------

    @property  # type: ignore[override]
    def peers(self) -> tuple[Leg, ...]:
        """The legs this one forwards to; setting it rewires the C slot."""
        return self._peer_legs

    @peers.setter
    def peers(self, legs: tuple[Leg, ...]) -> None:
        self._peer_legs = legs
        if self._detached:
            return
        handles = [leg.handle for leg in legs if isinstance(leg, FastLeg) and not leg._detached]
        if len(handles) != len(legs):  # the engine hands a session over first; never here
            log.error("media: a compiled leg was wired to a Python-path leg; not forwarded")
        self.plane.set_peers(self.handle, handles[:8])

    @property  # type: ignore[override]
    def last_rx(self) -> float:
        """Monotonic time of the last authenticated packet (0.0: none yet)."""
        return float(self._slot.last_rx)

    @last_rx.setter
    def last_rx(self, value: float) -> None:
        self._slot.last_rx = value

    @property  # type: ignore[override]
    def remote(self) -> tuple[str, int] | None:
        """Where the relay sends this leg's media: the latched (or declared) address."""
        slot = self._slot
        return _from_c(slot.remote_ip, slot.remote_port) if slot.has_remote else None

    @remote.setter
    def remote(self, addr: tuple[str, int] | None) -> None:
        slot = self._slot
        if addr is None:
            slot.has_remote = 0
        else:
            slot.remote_ip, slot.remote_port = ipv4_to_c(addr[0], addr[1])
            slot.has_remote = 1

    def latch_to(self, addr: tuple[str, int]) -> None:
        """Latch to ``addr`` as the first authenticated packet from there would."""
        self.remote = addr
        self._slot.heard = 1

    @property
    def latched(self) -> bool:
        """True once the client sent an authenticated packet."""
        return bool(self._slot.heard)

    @property
    def relatches(self) -> int:
        """How often the leg moved to a new client address."""
        return int(self._slot.relatches)

    def stats(self) -> LegStats:
        """A snapshot of the counters (as :meth:`Leg.stats`)."""
        slot = self._slot
        lost = 0
        if slot.base_seq >= 0:
            expected = slot.cycles + slot.max_seq - slot.base_seq + 1
            lost = max(0, int(expected) - int(slot.packets_in))
        return LegStats(
            leg_id=self.leg_id,
            packets_in=int(slot.packets_in),
            bytes_in=int(slot.bytes_in),
            packets_out=int(slot.packets_out),
            bytes_out=int(slot.bytes_out),
            rtcp_in=int(slot.rtcp_in),
            rtcp_out=int(slot.rtcp_out),
            packets_lost=lost,
            jitter_ms=round(float(slot.jitter) / _CLOCK * 1000.0, 3),
            drops=self.drops(),
        )

    def send_rtp(self, plain: bytes) -> bool:
        """Not used: forwarding between compiled legs happens in C."""
        return False

    def send_rtcp(self, plain: bytes) -> bool:
        """Not used: forwarding between compiled legs happens in C."""
        return False

    # hand-over and close -------------------------------------------------------------

    def freeze(self) -> None:
        """After the plane detached the slot: keep a private copy of its counters."""
        if not self._detached:
            self._detached = True
            self._slot = self.plane.snapshot(self.handle)

    def to_python(self, loop: asyncio.AbstractEventLoop) -> SdesLeg:
        """The Python-path leg that continues this (detached) one on the same socket."""
        self.freeze()
        slot = self._slot
        leg = SdesLeg.adopt(self.leg_id, self.port, self.suite, self.rx, self.tx,
                            self._on_closed, self.remote)
        leg.created = self.created
        for name in ("packets_in", "bytes_in", "packets_out", "bytes_out", "rtcp_in",
                     "rtcp_out", "drop_auth", "drop_replay", "drop_source", "drop_malformed",
                     "drop_no_peer"):
            setattr(leg, name, int(getattr(slot, name)))
        leg.last_rx = float(slot.last_rx)
        leg._base_seq, leg._max_seq = int(slot.base_seq), int(slot.max_seq)
        leg._cycles, leg._jitter = int(slot.cycles), float(slot.jitter)
        leg._last_transit = float(slot.last_transit)
        leg.relatches = int(slot.relatches)
        leg._relatched_at = float(slot.relatched_at)
        leg._heard = bool(slot.heard)
        leg.tap = self.tap
        self._closed = True  # the socket now belongs to the Python leg
        SocketTransport(self.sock, leg, loop)
        return leg

    def close(self) -> None:
        """Detach from the plane, close the socket, give the port back (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self._detached:
            self.plane.detach([self.handle])
            self.freeze()
        self.sock.close()
        self._on_closed(self.port)


class SocketTransport:
    """The datagram transport of a leg handed over from the compiled path: the event loop
    reads the already-bound socket (``add_reader``); ``sendto`` never raises."""

    def __init__(self, sock: socket.socket, leg: SdesLeg, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._leg = leg
        self._loop = loop
        self._fd = sock.fileno()
        self._closed = False
        loop.add_reader(self._fd, self._readable)
        leg.connection_made(self)  # type: ignore[arg-type]

    def _readable(self) -> None:
        recv = self._sock.recvfrom
        for _ in range(64):
            try:
                data, addr = recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: not ours to act on
                continue
            self._leg.datagram_received(data, addr)

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send one datagram; a failure is dropped like an asyncio transport would."""
        try:
            self._sock.sendto(data, addr)
        except OSError:
            pass

    def close(self) -> None:
        """Stop reading, close the socket, tell the leg (which gives its port back)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.remove_reader(self._fd)
        except (RuntimeError, ValueError):  # the loop is already closed
            pass
        self._sock.close()
        self._leg.connection_lost(None)

"""A leg of a relay session: its counters, and the SDES-SRTP leg's receive loop.

Hot path (one call per datagram, :meth:`SdesLeg.datagram_received`), written for speed:
counters are plain ints on a slotted object, nothing allocates but the decrypted and
re-encrypted packet, nothing is logged, and nothing raises out (an unexpected exception is
counted as ``malformed``). Order of checks, cheapest first: source address against the
latched one (no crypto spent on a third party), RTP version and length, RTP/RTCP demux
(RFC 5761), then SRTP/SRTCP unprotect (libsrtp called directly, see
:mod:`fabric.media.srtp_fast`), whose failures are split into ``auth-failed`` and ``replay``
by the libsrtp status code, without raising.

Symmetric RTP latching: a leg has no remote address until its first *authenticated*
packet (RTP or RTCP); from then on only that address is accepted and used as destination.
Plain RTP cannot authenticate, so it is refused (counted as ``auth-failed``). A leg whose
offer declared the client's RTP address (``MediaOffer.rtp_host``/``rtp_port``) sends there
from the start, so the first frames of the other party are delivered before this client
sent anything; its first authenticated packet still latches the leg, to the address it came
from (a client behind NAT is reached at its public address once it sends). Which declared
addresses a relay uses: :func:`fabric.media.engine.declared_address`.
The declared address receives only what the other party of the same call sends (no
amplification beyond one call's media), and only until the leg latches or times out.

Re-latching (a client whose NAT mapping or network changed): a packet from another address
is dropped unchecked (``unexpected-source``, no crypto spent) while the latched address is
alive. Only once it has been silent for :data:`RELATCH_QUIET_S` are another address's
packets authenticated, and the leg moves there only after :data:`RELATCH_PACKETS`
authenticated packets in a row from that one address (one captured-and-spoofed packet moves
nothing; the replay window stops a resent copy), at most once per
:data:`RELATCH_INTERVAL_S`. Packets counted towards a move are not forwarded.

Any authenticated packet, RTCP included, counts as activity for the media timeout, so a
call on hold that still sends RTCP is not cut.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from typing import Any, cast

import pylibsrtp

from fabric.media.srtp_fast import (
    STATUS_AUTH_FAIL,
    STATUS_REPLAY_FAIL,
    STATUS_REPLAY_OLD,
    SrtpContext,
)
from fabric.media.suites import SrtpSuite
from fabric.media.types import DropReason, LegStats

_monotonic = time.monotonic
_SEQ_TS = struct.Struct("!HI").unpack_from
_CLOCK = 8000.0  # RTP clock of G.711; used for jitter in timestamp units
RELATCH_QUIET_S = 1.0  # the latched address must be silent this long before another is tried
RELATCH_PACKETS = 5  # authenticated packets in a row from the new address (100 ms of audio)
RELATCH_INTERVAL_S = 10.0  # at most one move per leg in this time


def srtp_session(suite: SrtpSuite, key: bytes, salt: bytes, inbound: bool) -> pylibsrtp.Session:
    """A libsrtp session for any SSRC, decrypting (inbound) or encrypting (outbound)."""
    any_ssrc = pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    policy = pylibsrtp.Policy(
        key=key + salt,
        ssrc_type=any_ssrc,
        srtp_profile=suite.srtp_profile,
    )
    if not inbound:
        policy.allow_repeat_tx = True  # the relay forwards what it is given; the peer decides
    return pylibsrtp.Session(policy)


class Leg:
    """What every leg has: counters, liveness, and fan-out to the other legs of its session."""

    __slots__ = (
        "leg_id",
        "kind",
        "peers",
        "remote",
        "created",
        "last_rx",
        "packets_in",
        "bytes_in",
        "packets_out",
        "bytes_out",
        "rtcp_in",
        "rtcp_out",
        "drop_auth",
        "drop_replay",
        "drop_source",
        "drop_malformed",
        "drop_no_peer",
        "_base_seq",
        "_max_seq",
        "_cycles",
        "_last_transit",
        "_jitter",
        "tap",
    )

    def __init__(self, leg_id: str, kind: str) -> None:
        self.leg_id = leg_id
        self.kind = kind
        self.peers: tuple[Leg, ...] = ()
        self.remote: Any = None
        self.created = _monotonic()
        self.last_rx = 0.0
        self.packets_in = self.bytes_in = self.packets_out = self.bytes_out = 0
        self.rtcp_in = self.rtcp_out = 0
        self.drop_auth = self.drop_replay = self.drop_source = 0
        self.drop_malformed = self.drop_no_peer = 0
        self._base_seq = -1
        self._max_seq = 0
        self._cycles = 0
        self._last_transit = 0.0
        self._jitter = 0.0
        # a recording fork's tap: called with each authenticated inbound RTP packet after it
        # was forwarded; it only queues the packet (fabric.media.fork), never raises
        self.tap: Callable[[bytes, float], None] | None = None

    @property
    def latched(self) -> bool:
        """True once the leg has sent an authenticated packet (or connected, for WebRTC)."""
        return self.remote is not None

    def on_rtp(self, plain: bytes, now: float) -> None:
        """Account one authenticated inbound RTP packet and forward it to the other legs."""
        self.last_rx = now
        self.packets_in += 1
        self.bytes_in += len(plain)
        seq = (plain[2] << 8) | plain[3]
        if self._base_seq < 0:
            self._base_seq = self._max_seq = seq
        else:
            delta = (seq - self._max_seq) & 0xFFFF
            if 0 < delta < 3000:
                if seq < self._max_seq:
                    self._cycles += 65536
                self._max_seq = seq
        transit = now * _CLOCK - int.from_bytes(plain[4:8], "big")
        if self.packets_in > 1:
            d = abs(transit - self._last_transit)
            self._jitter += (d - self._jitter) / 16.0
        self._last_transit = transit
        sent = False
        for peer in self.peers:
            sent = peer.send_rtp(plain) or sent
        if not sent:
            self.drop_no_peer += 1
        tap = self.tap
        if tap is not None:
            tap(plain, now)

    def on_rtcp(self, plain: bytes, now: float) -> None:
        """Account one authenticated inbound RTCP packet and forward it."""
        self.last_rx = now
        self.rtcp_in += 1
        for peer in self.peers:
            peer.send_rtcp(plain)

    def send_rtp(self, plain: bytes) -> bool:
        """Send a plain RTP packet to this leg's client; False if it cannot be sent yet."""
        raise NotImplementedError

    def send_rtcp(self, plain: bytes) -> bool:
        """Send a plain RTCP packet to this leg's client; False if it cannot be sent."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the leg's socket or connection."""

    def stats(self) -> LegStats:
        """A snapshot of the counters."""
        lost = 0
        if self._base_seq >= 0:
            expected = self._cycles + self._max_seq - self._base_seq + 1
            lost = max(0, expected - self.packets_in)
        return LegStats(
            leg_id=self.leg_id,
            packets_in=self.packets_in,
            bytes_in=self.bytes_in,
            packets_out=self.packets_out,
            bytes_out=self.bytes_out,
            rtcp_in=self.rtcp_in,
            rtcp_out=self.rtcp_out,
            packets_lost=lost,
            jitter_ms=round(self._jitter / _CLOCK * 1000.0, 3),
            drops=self.drops(),
        )

    def drops(self) -> dict[str, int]:
        """Drop counters by :class:`DropReason` value."""
        return {
            DropReason.AUTH_FAILED.value: self.drop_auth,
            DropReason.REPLAY.value: self.drop_replay,
            DropReason.UNEXPECTED_SOURCE.value: self.drop_source,
            DropReason.MALFORMED.value: self.drop_malformed,
            DropReason.NO_PEER.value: self.drop_no_peer,
        }


class SdesLeg(Leg, asyncio.DatagramProtocol):
    """A leg keyed by SDES: one UDP port of the relay, SRTP in and out, latched remote."""

    __slots__ = ("port", "suite", "_rx", "_tx", "transport", "_on_closed", "relatches",
                 "_candidate", "_candidate_packets", "_relatched_at", "_heard")

    def __init__(
        self,
        leg_id: str,
        port: int,
        suite: SrtpSuite,
        client_key: tuple[bytes, bytes],
        relay_key: tuple[bytes, bytes],
        on_closed: Callable[[int], None],
        declared: tuple[str, int] | None = None,
    ) -> None:
        Leg.__init__(self, leg_id, "sdes")
        self.port = port
        self.suite = suite
        self._rx = SrtpContext(srtp_session(suite, client_key[0], client_key[1], inbound=True))
        self._tx = SrtpContext(srtp_session(suite, relay_key[0], relay_key[1], inbound=False))
        self.transport: asyncio.DatagramTransport | None = None
        self._on_closed = on_closed
        self.relatches = 0
        self._candidate: Any = None
        self._candidate_packets = 0
        self._relatched_at = -RELATCH_INTERVAL_S
        self._heard = False  # an authenticated packet arrived: ``remote`` is its source
        self.remote = declared

    @classmethod
    def adopt(
        cls,
        leg_id: str,
        port: int,
        suite: SrtpSuite,
        rx: SrtpContext,
        tx: SrtpContext,
        on_closed: Callable[[int], None],
        remote: tuple[str, int] | None,
    ) -> SdesLeg:
        """A leg continuing one the compiled data plane served: the same SRTP contexts
        (rollover counters, replay window) and remote; the caller copies the counters."""
        leg = cls.__new__(cls)
        Leg.__init__(leg, leg_id, "sdes")
        leg.port, leg.suite, leg._rx, leg._tx = port, suite, rx, tx
        leg.transport = None
        leg._on_closed = on_closed
        leg.relatches = 0
        leg._candidate, leg._candidate_packets = None, 0
        leg._relatched_at = -RELATCH_INTERVAL_S
        leg._heard = False
        leg.remote = remote
        return leg

    @property
    def latched(self) -> bool:
        """True once the client sent an authenticated packet (a declared address is not
        a latch: the media timeout still waits for the client's first packet)."""
        return self._heard

    def latch_to(self, addr: Any) -> None:
        """Latch to ``addr`` as the first authenticated packet from there would."""
        self.remote, self._heard = addr, True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the datagram transport."""
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed: give the port back."""
        self.transport = None
        self._on_closed(self.port)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (e.g. port unreachable at the client) are not ours to act on."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """The receive loop: check, unprotect, account, forward. Never raises.

        The RTP branch repeats :meth:`Leg.on_rtp` inline (one Python call less per packet).
        """
        try:
            heard = self._heard
            if heard and addr != self.remote:
                self._relatch(data, addr)
                return
            if len(data) < 12 or (data[0] & 0xC0) != 0x80:
                self.drop_malformed += 1
                return
            rx = self._rx
            if 192 <= data[1] <= 223:
                plain = rx.unprotect_rtcp(data)
                if plain is None:
                    self._count_failure(rx.status)
                    return
                if not heard:
                    self.remote, self._heard = addr, True
                self.on_rtcp(plain, _monotonic())
                return
            plain = rx.unprotect(data)
            if plain is None:
                self._count_failure(rx.status)
                return
            if not heard:
                self.remote, self._heard = addr, True
            now = _monotonic()
            self.last_rx = now
            count = self.packets_in = self.packets_in + 1
            self.bytes_in += len(plain)
            seq, timestamp = _SEQ_TS(plain, 2)
            if self._base_seq < 0:
                self._base_seq = self._max_seq = seq
            else:
                delta = (seq - self._max_seq) & 0xFFFF
                if 0 < delta < 3000:
                    if seq < self._max_seq:
                        self._cycles += 65536
                    self._max_seq = seq
            transit = now * _CLOCK - timestamp
            if count > 1:
                d = transit - self._last_transit
                if d < 0:
                    d = -d
                self._jitter += (d - self._jitter) * 0.0625
            self._last_transit = transit
            sent = False
            for peer in self.peers:
                if peer.send_rtp(plain):
                    sent = True
            if not sent:
                self.drop_no_peer += 1
            tap = self.tap
            if tap is not None:  # after forwarding: a recording fork never delays it
                tap(plain, now)
        except Exception:  # noqa: BLE001 - the receive loop must survive anything
            self.drop_malformed += 1

    def _relatch(self, data: bytes, addr: Any) -> None:
        """A packet from another address than the latched one: counted as a drop (never
        forwarded); the leg moves there after enough authenticated ones (module docstring)."""
        now = _monotonic()
        if now - self.last_rx < RELATCH_QUIET_S or now - self._relatched_at < RELATCH_INTERVAL_S:
            self.drop_source += 1  # the latched address is alive, or a move was just made
            return
        if len(data) < 12 or (data[0] & 0xC0) != 0x80:
            self.drop_malformed += 1
            return
        rx = self._rx
        plain = rx.unprotect_rtcp(data) if 192 <= data[1] <= 223 else rx.unprotect(data)
        if plain is None:
            self._count_failure(rx.status)
            self._candidate = None
            return
        self.drop_source += 1
        if addr != self._candidate:
            self._candidate, self._candidate_packets = addr, 0
        self._candidate_packets += 1
        if self._candidate_packets >= RELATCH_PACKETS:
            self.remote, self._candidate, self._relatched_at = addr, None, now
            self.last_rx = now
            self.relatches += 1

    def _count_failure(self, status: int) -> None:
        if status == STATUS_AUTH_FAIL:
            self.drop_auth += 1
        elif status in (STATUS_REPLAY_FAIL, STATUS_REPLAY_OLD):
            self.drop_replay += 1
        else:
            self.drop_malformed += 1

    def send_rtp(self, plain: bytes) -> bool:
        """Encrypt with the relay's key for this leg and send to the latched address."""
        remote = self.remote
        transport = self.transport
        if remote is None or transport is None:
            return False
        packet = self._tx.protect(plain)
        if packet is None:
            return False
        transport.sendto(packet, remote)
        self.packets_out += 1
        self.bytes_out += len(plain)
        return True

    def send_rtcp(self, plain: bytes) -> bool:
        """Encrypt RTCP with the relay's key for this leg and send it."""
        remote = self.remote
        transport = self.transport
        if remote is None or transport is None:
            return False
        packet = self._tx.protect_rtcp(plain)
        if packet is None:
            return False
        transport.sendto(packet, remote)
        self.rtcp_out += 1
        return True

    def close(self) -> None:
        """Close the socket; the port returns in :meth:`connection_lost`."""
        if self.transport is not None:
            self.transport.close()

"""The relay engine: the session table of one relay, its ports, timeouts and totals.

One engine runs on one event loop (uvloop in the media actor) and hosts the relay sessions
of many calls. All methods must be called on that loop. Control operations are rare (a few
per call) and may allocate and log; the per-packet path lives in the legs.

Nothing leaks: a session is released by :meth:`release_session` (idempotent, also for a
call id the relay never saw, e.g. after a relay restart); a leg whose socket could not be
opened returns its port at once; ports return to the allocator when their socket is
closed. Sessions whose owner vanished are reaped by the sweeper: a session that timed out
and was not released within ``orphan_grace_s``, or one where no leg sent anything within
``idle_session_s``. Their final report is kept (bounded) so a late release still gets it.

Media timeout: the sweeper marks a session timed out when a latched leg sent nothing for
``media_timeout_s`` (or a leg never latched within ``latch_timeout_s`` of being added) and
queues its call id; :meth:`drain_timeouts` hands the queued ids out once (the call actor
side polls it in batches, see ``fabric.media.relay_actor.MediaControl``), and
:meth:`session_status` shows the flag and ``reason == "media-timeout"`` at any time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fabric.errors import InvalidArgument, NotFound, ResourceExhausted
from fabric.media.fastleg import FastLeg
from fabric.media.fastpath import COMPILED, PYTHON, FastPlane, load_plane_module
from fabric.media.feature_types import (
    ForkInfo,
    ForkSpec,
    MediaEvent,
    PlayRecFinished,
    PlayRecInfo,
    PlayRecSpec,
)
from fabric.media.features import MediaFeatures
from fabric.media.legs import Leg, SdesLeg
from fabric.media.ports import PortAllocator
from fabric.media.sealsink import ContentOpener
from fabric.media.session import RelaySession
from fabric.media.srtp_aescm import srtp_context, transform_name
from fabric.media.suites import check_key_material, new_key_material, parse_suite
from fabric.media.types import (
    DropReason,
    MediaAnswer,
    MediaOffer,
    MediaStatsReport,
    SessionInfo,
    SessionStatus,
)

log = logging.getLogger(__name__)

_KEPT_REPORTS = 4096
_MAX_ID_LEN = 128


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Settings of one relay engine."""

    relay_index: int = 0
    bind_host: str = "127.0.0.1"
    public_host: str = ""  # the address clients send media to; "" = bind_host; "$VAR" = env
    port_min: int = 20000
    port_max: int = 29999
    media_timeout_s: float = 30.0
    latch_timeout_s: float = 30.0  # a leg that never sent authenticated media ends the call
    orphan_grace_s: float = 120.0
    idle_session_s: float = 3600.0
    sweep_interval_s: float = 1.0
    # "auto": the compiled data plane (fabric.media.fastpath) when it loads, else Python;
    # "python": always the Python path
    dataplane: str = "auto"

    @property
    def advertised_host(self) -> str:
        """The relay address put into media answers: ``public_host``, else ``bind_host``.

        ``public_host = "$NAME"`` reads environment variable ``NAME`` in the relay's own
        process, so each node advertises its own address (in Kubernetes: the node's IP from
        the downward API); unset or empty falls back to ``bind_host``.
        """
        if self.public_host.startswith("$"):
            return os.environ.get(self.public_host[1:], "") or self.bind_host
        return self.public_host or self.bind_host


@dataclass(slots=True)
class RelayTotals:
    """Counters summed over every session the engine hosted (live and released)."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    rtcp_in: int = 0
    rtcp_out: int = 0
    packets_lost: int = 0
    drops_auth: int = 0
    drops_replay: int = 0
    drops_source: int = 0
    drops_malformed: int = 0
    drops_no_peer: int = 0

    def add_leg(self, leg: Leg) -> None:
        """Add one leg's counters."""
        self.packets_in += leg.packets_in
        self.bytes_in += leg.bytes_in
        self.packets_out += leg.packets_out
        self.bytes_out += leg.bytes_out
        self.rtcp_in += leg.rtcp_in
        self.rtcp_out += leg.rtcp_out
        self.packets_lost += leg.stats().packets_lost
        self.drops_auth += leg.drop_auth
        self.drops_replay += leg.drop_replay
        self.drops_source += leg.drop_source
        self.drops_malformed += leg.drop_malformed
        self.drops_no_peer += leg.drop_no_peer

    def drops(self) -> dict[str, int]:
        """Drops by reason."""
        return {
            DropReason.AUTH_FAILED.value: self.drops_auth,
            DropReason.REPLAY.value: self.drops_replay,
            DropReason.UNEXPECTED_SOURCE.value: self.drops_source,
            DropReason.MALFORMED.value: self.drops_malformed,
            DropReason.NO_PEER.value: self.drops_no_peer,
        }


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LEN:
        raise InvalidArgument(
            f"{name} must be a non-empty string of at most {_MAX_ID_LEN} characters",
            error_id="media-bad-id",
        )


def declared_address(offer: MediaOffer, relay_host: str) -> tuple[str, int] | None:
    """The RTP address an offer declared, if the relay may send there before hearing it.

    A relay on a public address uses only a declared global (public) address: a private,
    loopback or link-local one would reach the relay's own network, never the client (whose
    NAT makes it reachable only at the source of its packets, learnt by latching). A relay
    on a private or loopback address (a test or an internal deployment) uses any.
    """
    if not offer.rtp_port or not offer.rtp_host:
        return None
    try:
        declared = ipaddress.ip_address(offer.rtp_host)
    except ValueError:
        return None
    try:
        relay_public = ipaddress.ip_address(relay_host).is_global
    except ValueError:
        relay_public = True  # a host name: assume the relay faces the internet
    if relay_public and not declared.is_global:
        return None
    return offer.rtp_host, offer.rtp_port


class RelayEngine:
    """The sessions of one relay on one event loop."""

    def __init__(self, config: RelayConfig, content: ContentOpener | None = None) -> None:
        self.config = config
        # play/record legs and recording forks; ``content`` opens the sealed store they
        # record into (None: recording is refused with media-no-content-store)
        self.features = MediaFeatures(content)
        self.ports = PortAllocator(config.port_min, config.port_max)
        self.sessions: dict[str, RelaySession] = {}
        self._released: OrderedDict[str, MediaStatsReport] = OrderedDict()
        self._timeouts: list[str] = []
        self._retired = RelayTotals()
        self.timeouts_total = 0
        self.sessions_total = 0
        self._sweeper: asyncio.Task[None] | None = None
        # the compiled data plane: its module (None = the Python path runs), its loop
        # (started with the first leg it serves) and how many sessions left it for Python
        self._plane_module = load_plane_module(config.dataplane)
        self._plane: FastPlane | None = None
        self.sessions_handed_over = 0
        self._fast_next = False

    @property
    def dataplane(self) -> str:
        """Which data plane serves new SDES legs: ``compiled`` or ``python``."""
        return COMPILED if self._plane_module is not None else PYTHON

    @property
    def srtp_transform(self) -> str:
        """Which SRTP transform new compiled AES_CM_128_HMAC_SHA1_80 legs get for RTP:
        ``openssl`` (fabric.media.srtp_aescm) or ``libsrtp``."""
        return transform_name(self._plane_module)

    # lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the sweeper (call on the engine's loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        """Release every session and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for call_id in list(self.sessions):
            await self.release_session(call_id)
        await self.features.close()
        if self._plane is not None:
            self._plane.close()
        await asyncio.sleep(0)  # let transports run connection_lost

    # control API ---------------------------------------------------------------------

    def allocate_session(self, call_id: str) -> SessionInfo:
        """Create the session of ``call_id``, or return the existing one (idempotent)."""
        _check_id("call_id", call_id)
        if call_id not in self.sessions:
            self.sessions[call_id] = RelaySession(call_id)
            self._released.pop(call_id, None)
            self.sessions_total += 1
        return SessionInfo(call_id, self.config.relay_index, self.config.advertised_host)

    def _session(self, call_id: str) -> RelaySession:
        session = self.sessions.get(call_id)
        if session is None:
            raise NotFound(
                "no media session for this call on this relay; allocate_session first "
                "(or it was released / the relay restarted)",
                error_id="media-session-not-found",
            )
        return session

    async def add_leg(self, call_id: str, leg_id: str, offer: MediaOffer) -> MediaAnswer:
        """Open an SDES-SRTP leg with a port of its own; idempotent for the same offer."""
        _check_id("leg_id", leg_id)
        session = self._session(call_id)
        suite = parse_suite(offer.suite)
        check_key_material(suite, offer.master_key, offer.master_salt)
        previous = session.answers.get(leg_id)
        if previous is not None:
            prev_offer, prev_answer = previous
            if prev_offer == offer:
                return prev_answer
            old = session.remove(leg_id)
            if old is not None:
                self._retire_leg(old)
        elif leg_id in session.legs:
            raise InvalidArgument(
                f"leg {leg_id!r} of this call is not an SDES leg; use another leg id",
                error_id="media-leg-kind-mismatch",
            )
        relay_key = new_key_material(suite)
        self._fast_next = self._fast_ok(
            session, declared_address(offer, self.config.advertised_host)
        )
        leg = await self._open_sdes_leg(leg_id, suite, offer, relay_key)
        answer = MediaAnswer(
            relay_host=self.config.advertised_host,
            relay_port=leg.port,
            suite=suite.value,
            master_key=relay_key[0],
            master_salt=relay_key[1],
        )
        if self.sessions.get(call_id) is not session:  # released while the socket opened
            leg.close()
            raise NotFound("the call's media session was released", error_id="media-session-gone")
        session.add(leg)
        session.answers[leg_id] = (offer, answer)
        return answer

    def _fast_ok(self, session: RelaySession, declared: tuple[str, int] | None) -> bool:
        """Whether a new SDES leg of ``session`` goes to the compiled plane (IPv4 only)."""
        if self._plane_module is None or session.python_path:
            return False
        try:
            socket.inet_aton(self.config.bind_host)
            if declared is not None:
                socket.inet_aton(declared[0])
        except OSError:
            return False
        return True

    def _open_fast_leg(
        self,
        leg_id: str,
        suite: Any,
        offer: MediaOffer,
        relay_key: tuple[bytes, bytes],
        declared: tuple[str, int] | None,
    ) -> FastLeg:
        if self._plane is None:
            assert self._plane_module is not None
            self._plane = FastPlane(self._plane_module, capacity=max(16, self.ports.size))
        attempts = min(32, self.ports.size)
        for _ in range(attempts):
            port = self.ports.take()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.bind((self.config.bind_host, port))
            except OSError:
                sock.close()
                self.ports.put_back_busy(port)
                continue
            try:
                module = self._plane_module
                rx = srtp_context(module, suite, offer.master_key, offer.master_salt, True)
                tx = srtp_context(module, suite, relay_key[0], relay_key[1], False)
                return FastLeg(leg_id, self._plane, sock, suite, rx, tx, self.ports.give_back,
                               declared)
            except BaseException:
                sock.close()
                self.ports.give_back(port)
                raise
        raise ResourceExhausted(
            f"no bindable media port after {attempts} tries; other processes hold this "
            "relay's range: give it a range of its own (media.port_min..port_max)",
            error_id="media-ports-busy",
        )

    def _to_python_path(self, session: RelaySession) -> None:
        """Hand every compiled leg of ``session`` to the Python path (at once: no packet
        is forwarded between the hand-over of two legs); the session stays there."""
        if session.python_path:
            return
        session.python_path = True
        fast = [leg for leg in session.legs.values() if isinstance(leg, FastLeg)]
        if not fast or self._plane is None:
            return
        self.sessions_handed_over += 1
        self._plane.detach([leg.handle for leg in fast])
        loop = asyncio.get_running_loop()
        for leg in fast:
            session.legs[leg.leg_id] = leg.to_python(loop)
        session.rewire()

    async def _open_sdes_leg(
        self,
        leg_id: str,
        suite: Any,
        offer: MediaOffer,
        relay_key: tuple[bytes, bytes],
    ) -> SdesLeg | FastLeg:
        """Open the leg's socket: on the compiled plane if :meth:`add_leg` chose it for
        this leg's session (``_fast_next``), else an asyncio datagram endpoint."""
        if self._fast_next:
            self._fast_next = False
            declared = declared_address(offer, self.config.advertised_host)
            return self._open_fast_leg(leg_id, suite, offer, relay_key, declared)
        loop = asyncio.get_running_loop()
        attempts = min(32, self.ports.size)
        for _ in range(attempts):
            port = self.ports.take()
            leg = SdesLeg(
                leg_id,
                port,
                suite,
                (offer.master_key, offer.master_salt),
                relay_key,
                self.ports.give_back,
                declared=declared_address(offer, self.config.advertised_host),
            )
            try:
                await loop.create_datagram_endpoint(
                    lambda leg=leg: leg,  # type: ignore[misc]
                    local_addr=(self.config.bind_host, port),
                )
            except OSError:
                self.ports.put_back_busy(port)
                continue
            return leg
        raise ResourceExhausted(
            f"no bindable media port after {attempts} tries; other processes hold this "
            "relay's range: give it a range of its own (media.port_min..port_max)",
            error_id="media-ports-busy",
        )

    async def add_webrtc_leg(self, call_id: str, leg_id: str, sdp_offer: str) -> str:
        """Add a WebRTC (ICE + DTLS-SRTP, PCMU) leg from an SDP offer; return the SDP answer."""
        from fabric.media.webrtc import WebRtcLeg  # aiortc is heavy: import on first use

        _check_id("leg_id", leg_id)
        session = self._session(call_id)
        if leg_id in session.legs:
            raise InvalidArgument(
                f"leg {leg_id!r} already exists in this call", error_id="media-leg-exists"
            )
        self._to_python_path(session)  # aiortc's packets are Python objects
        leg = WebRtcLeg(leg_id)
        try:
            answer = await leg.accept(sdp_offer)
        except Exception:
            leg.close()
            raise
        if self.sessions.get(call_id) is not session:
            leg.close()
            raise NotFound("the call's media session was released", error_id="media-session-gone")
        session.add(leg)
        return answer

    def remove_leg(self, call_id: str, leg_id: str) -> bool:
        """Take one leg out of a live call (a party left it): close its socket, free its
        port, keep its statistics for the call's report. Idempotent: False if no such leg
        (or no such session)."""
        session = self.sessions.get(call_id)
        if session is None:
            return False
        leg = session.remove(leg_id)
        if leg is None:
            return False
        self.features.leg_removed(call_id, leg_id)
        session.departed.append(leg.stats())
        self._retire_leg(leg)
        return True

    async def release_session(self, call_id: str) -> MediaStatsReport:
        """Close every leg of the call and return its statistics (idempotent)."""
        session = self.sessions.pop(call_id, None)
        if session is None:
            kept = self._released.get(call_id)
            return kept if kept is not None else MediaStatsReport(call_id, [], False)
        report = session.report()
        self.features.session_released(call_id)
        for leg in session.legs.values():
            self._retire_leg(leg)
        self._released[call_id] = report
        while len(self._released) > _KEPT_REPORTS:
            self._released.popitem(last=False)
        return report

    def _retire_leg(self, leg: Leg) -> None:
        self._retired.add_leg(leg)
        leg.close()

    def session_status(self, call_id: str) -> SessionStatus:
        """Liveness, timeout flag and statistics of a live session."""
        return self._session(call_id).status(time.monotonic())

    # media features (fabric.media.features) -------------------------------------------

    def start_playrec(self, call_id: str, leg_id: str, spec: PlayRecSpec) -> PlayRecInfo:
        """Answer ``leg_id`` at the relay: greeting, beep, record (returns at once; the
        outcome is a ``PlayRecFinished`` event)."""
        session = self._session(call_id)
        self._to_python_path(session)  # the local end takes plain packets in Python
        return self.features.start_playrec(session, leg_id, spec)

    async def stop_playrec(self, call_id: str, leg_id: str) -> PlayRecFinished:
        """End a play/record leg now; its outcome."""
        return await self.features.stop_playrec(call_id, leg_id)

    def start_fork(self, call_id: str, spec: ForkSpec) -> ForkInfo:
        """Start recording the call's legs (announcement first); returns at once."""
        session = self._session(call_id)
        self._to_python_path(session)  # the fork's taps take plain packets in Python
        return self.features.start_fork(session, spec)

    def pause_fork(self, call_id: str) -> ForkInfo:
        """Pause the call's recording (hold)."""
        return self.features.pause_fork(call_id)

    def resume_fork(self, call_id: str) -> ForkInfo:
        """Resume the call's recording."""
        return self.features.resume_fork(call_id)

    async def stop_fork(self, call_id: str) -> ForkInfo:
        """Stop and seal the call's recording; its final figures."""
        return await self.features.stop_fork(call_id)

    def drain_events(self) -> list[MediaEvent]:
        """Feature events since the last call (each handed out once)."""
        return self.features.drain_events()

    def drain_timeouts(self) -> list[str]:
        """Call ids that timed out since the last call (each reported once)."""
        out, self._timeouts = self._timeouts, []
        return out

    # accounting ----------------------------------------------------------------------

    def totals(self) -> RelayTotals:
        """Counters over every session, live and released."""
        total = RelayTotals(**{k: getattr(self._retired, k) for k in RelayTotals.__slots__})
        for session in list(self.sessions.values()):  # list(): scrapes run on another thread
            for leg in list(session.legs.values()):
                total.add_leg(leg)
        return total

    def counts(self) -> dict[str, int]:
        """Live sessions, legs and ports in use."""
        return {
            "sessions": len(self.sessions),
            "legs": sum(len(s.legs) for s in self.sessions.values()),
            "ports_in_use": self.ports.in_use,
            "sessions_total": self.sessions_total,
            "timeouts_total": self.timeouts_total,
            "sessions_handed_over": self.sessions_handed_over,
        }

    # sweeper -------------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Mark timed-out sessions and reap orphans (the sweeper calls this periodically)."""
        cfg = self.config
        reap: list[str] = []
        for call_id, session in self.sessions.items():
            if session.check_timeout(now, cfg.media_timeout_s, cfg.latch_timeout_s):
                self.timeouts_total += 1
                self._timeouts.append(call_id)
            timed_out_at = session.timed_out_at
            if timed_out_at is not None and now - timed_out_at > cfg.orphan_grace_s:
                reap.append(call_id)
            elif now - session.created > cfg.idle_session_s and not any(
                leg.last_rx and now - leg.last_rx < cfg.idle_session_s
                for leg in session.legs.values()
            ):
                reap.append(call_id)
        for call_id in reap:
            log.warning("media: reaping an orphaned relay session (owner never released it)")
            session = self.sessions.pop(call_id)
            report = session.report()
            self.features.session_released(call_id)  # its recordings end and are sealed
            for leg in session.legs.values():
                self._retire_leg(leg)
            self._released[call_id] = report

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                self.sweep(time.monotonic())
            except Exception:  # noqa: BLE001 - the sweeper must keep running
                log.exception("media: sweeper failed; continuing")

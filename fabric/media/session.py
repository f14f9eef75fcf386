"""A call's relay session: its legs and who forwards to whom.

Every packet a leg receives is forwarded to every other leg of the session (two legs in a
plain call). The session only wires legs together; the per-packet work is in
:mod:`fabric.media.legs`. Two exceptions, both set by the relay's media features: a leg
*terminated* at the relay (a play/record leg, :mod:`fabric.media.playrec`) forwards only
to its local end and receives from no other leg; while the session is *muted* (a recording
announcement plays, :mod:`fabric.media.fork`) packets are accepted and dropped silently.
"""

from __future__ import annotations

import time

from fabric.media.legs import Leg
from fabric.media.types import (
    TIMEOUT_REASON,
    LegStats,
    LegStatus,
    MediaAnswer,
    MediaOffer,
    MediaStatsReport,
    SessionStatus,
)


class _Muted(Leg):
    """The peer of every leg while an announcement plays: takes packets, sends nothing."""

    def send_rtp(self, plain: bytes) -> bool:
        """Accepted (not a delivery failure), not sent."""
        return True

    def send_rtcp(self, plain: bytes) -> bool:
        """Accepted, not sent."""
        return True


_MUTED = _Muted("muted", "muted")


class RelaySession:
    """The legs of one call on one relay, and its media-timeout state."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.created = time.monotonic()
        self.legs: dict[str, Leg] = {}
        # leg_id -> (offer, answer), so a repeated add_leg returns the same answer
        self.answers: dict[str, tuple[MediaOffer, MediaAnswer]] = {}
        self.timed_out_leg: str | None = None
        self.timed_out_at: float | None = None
        # final statistics of legs that left the call (e.g. by a blind transfer)
        self.departed: list[LegStats] = []
        self.terminated: dict[str, Leg] = {}  # leg id -> its local end (play/record)
        self.muted = False
        # True once the session left the compiled data plane (a feature needing Python per
        # packet started, or a WebRTC leg joined); its later legs stay on the Python path
        self.python_path = False

    @property
    def timed_out(self) -> bool:
        """True once a leg went silent for longer than the media timeout."""
        return self.timed_out_leg is not None

    def add(self, leg: Leg) -> None:
        """Add a leg and rewire the fan-out."""
        self.legs[leg.leg_id] = leg
        self._rewire()

    def remove(self, leg_id: str) -> Leg | None:
        """Remove a leg (not closed here) and rewire."""
        leg = self.legs.pop(leg_id, None)
        self.answers.pop(leg_id, None)
        self.terminated.pop(leg_id, None)
        self._rewire()
        return leg

    def terminate(self, leg_id: str, local: Leg) -> None:
        """Wire ``leg_id`` to ``local`` only (the relay answers it) and out of the others."""
        self.terminated[leg_id] = local
        self._rewire()

    def mute(self, muted: bool) -> None:
        """Stop (or resume) forwarding between the legs, without counting drops."""
        self.muted = muted
        self._rewire()

    def rewire(self) -> None:
        """Recompute who forwards to whom (after a leg object was replaced)."""
        self._rewire()

    def _rewire(self) -> None:
        legs = list(self.legs.values())
        bridged = [leg for leg in legs if leg.leg_id not in self.terminated]
        for leg in legs:
            local = self.terminated.get(leg.leg_id)
            if local is not None:
                leg.peers = (local,)
            elif self.muted:
                leg.peers = (_MUTED,)
            else:
                leg.peers = tuple(other for other in bridged if other is not leg)

    def check_timeout(
        self, now: float, timeout_s: float, latch_timeout_s: float | None = None
    ) -> bool:
        """Mark the session timed out if a latched leg is silent for ``timeout_s``, or (with
        ``latch_timeout_s``) a leg never sent an authenticated packet that long after it was
        added (its port held for nothing); True if newly so."""
        if self.timed_out_leg is not None:
            return False
        for leg in self.legs.values():
            if leg.latched:
                silent = bool(leg.last_rx) and now - leg.last_rx > timeout_s
            else:
                silent = latch_timeout_s is not None and now - leg.created > latch_timeout_s
            if silent:
                self.timed_out_leg = leg.leg_id
                self.timed_out_at = now
                return True
        return False

    def report(self) -> MediaStatsReport:
        """Per-leg statistics."""
        return MediaStatsReport(
            call_id=self.call_id,
            legs=self.departed + [leg.stats() for leg in self.legs.values()],
            timed_out=self.timed_out,
        )

    def status(self, now: float) -> SessionStatus:
        """Liveness of every leg and the timeout flag."""
        legs = [
            LegStatus(
                leg_id=leg.leg_id,
                kind=leg.kind,
                latched=leg.latched,
                seconds_since_last_packet=(now - leg.last_rx) if leg.last_rx else None,
            )
            for leg in self.legs.values()
        ]
        return SessionStatus(
            call_id=self.call_id,
            legs=legs,
            timed_out=self.timed_out,
            reason=TIMEOUT_REASON if self.timed_out else None,
            timed_out_leg=self.timed_out_leg,
            stats=self.report(),
        )

    def close(self) -> None:
        """Close every leg."""
        for leg in self.legs.values():
            leg.close()

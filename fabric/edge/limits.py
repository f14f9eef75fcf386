"""Bounds the edge keeps per process, before a request reaches an actor.

- :class:`RateLimiter`: a token bucket per key (e.g. dials per second per API key), so one
  key cannot set up calls faster than its bucket refills.
- :class:`FailedCredentials`: a negative cache of credentials that failed verification
  (answered from memory, no tenant actor activated and no storage read for them) and a
  per-peer backoff: after ``free_failures`` failures a peer (its IP address, any port) is
  refused for a time that doubles with each further failure, up to ``max_backoff_s``, and
  forgiven after a quiet ``max_backoff_s``. Only credentials that cost a
  verification count (well-formed keys); a key that verified recently is still verified
  from an address in backoff, so a noisy neighbour behind the same NAT locks no one out.

Both are bounded in memory (the least recently touched entries go first) and read time from
a :class:`fabric.clock.Clock`. A refusal is :func:`exhausted`: ``RESOURCE_EXHAUSTED`` with an
error id and ``details["retry_after_s"]`` (the edge sends it as the ``retry-after`` trailer).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from fabric.clock import Clock
from fabric.errors import ResourceExhausted, Unauthenticated

MAX_ENTRIES = 100_000


def exhausted(error_id: str, what: str, retry_after_s: float) -> ResourceExhausted:
    """The refusal of a request over a limit, telling when to retry."""
    wait = max(0.001, round(retry_after_s, 3))
    return ResourceExhausted(
        f"{what}; retry after {wait:g} s",
        error_id=error_id,
        details={"retry_after_s": wait},
    )


class RateLimiter:
    """Token buckets by key: ``rate`` per second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Clock, max_keys: int = MAX_ENTRIES) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self._clock = clock
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait_s(self, key: str) -> float:
        """Take one token for ``key``: 0 if there was one, else seconds until there is."""
        now = self._clock.now()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait


@dataclass(slots=True)
class _Peer:
    failures: int
    last: float
    until: float


def token_digest(token: str) -> str:
    """What the negative cache keeps of a credential (never the credential itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class FailedCredentials:
    """Credentials that failed, and peers that keep failing (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        ttl_s: float = 30.0,
        free_failures: int = 5,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
        good_ttl_s: float = 600.0,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self.ttl_s = ttl_s
        self.free_failures = free_failures
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._max = max_entries
        self.good_ttl_s = good_ttl_s
        self._bad: OrderedDict[str, tuple[float, Unauthenticated]] = OrderedDict()
        self._peers: OrderedDict[str, _Peer] = OrderedDict()
        self._good: OrderedDict[str, float] = OrderedDict()

    def known_good(self, token: str) -> bool:
        """True for a credential that verified within ``good_ttl_s``: it is verified again
        even from an address in backoff (a real key is never locked out by its neighbours
        behind the same address)."""
        until = self._good.get(token_digest(token))
        return until is not None and until > self._clock.now()

    def check_peer(self, peer: str) -> None:
        """Refuse a peer in backoff (``auth-backoff``) before anything is verified."""
        state = self._peers.get(peer)
        if state is None:
            return
        now = self._clock.now()
        if now - state.last > self.max_backoff_s:
            del self._peers[peer]  # quiet long enough: forgiven
            return
        if now < state.until:
            raise exhausted("auth-backoff", "too many failed credentials from your address",
                            state.until - now)

    def known_bad(self, token: str) -> Unauthenticated | None:
        """The error a credential failed with, while it is remembered."""
        key = token_digest(token)
        hit = self._bad.get(key)
        if hit is None:
            return None
        if hit[0] <= self._clock.now():
            del self._bad[key]
            return None
        return hit[1]

    def failed(self, peer: str, token: str, error: Unauthenticated | None) -> None:
        """Count a failure of ``peer``; remember ``token`` if it was refused as invalid."""
        now = self._clock.now()
        if error is not None and token:
            self._bad[token_digest(token)] = (now + self.ttl_s, error)
            self._bad.move_to_end(token_digest(token))
        if peer:
            state = self._peers.pop(peer, None) or _Peer(0, now, 0.0)
            state.failures += 1
            state.last = now
            over = state.failures - self.free_failures  # >= 0: the next request waits
            if over >= 0:
                backoff = self.base_backoff_s * 2 ** min(over, 30)
                state.until = now + min(self.max_backoff_s, backoff)
            self._peers[peer] = state
        for table in (self._bad, self._peers):
            while len(table) > self._max:
                table.popitem(last=False)

    def succeeded(self, peer: str, token: str = "") -> None:
        """``token`` verified: it is known good for ``good_ttl_s``. The peer's failures stay
        counted (a valid key of a neighbour behind the same address forgives no one)."""
        if token:
            key = token_digest(token)
            self._good.pop(key, None)
            self._good[key] = self._clock.now() + self.good_ttl_s
            while len(self._good) > self._max:
                self._good.popitem(last=False)

    def forget(self, token: str) -> None:
        """Drop a credential from both caches."""
        self._bad.pop(token_digest(token), None)
        self._good.pop(token_digest(token), None)


def peer_host(peer: str) -> str:
    """The address part of a gRPC peer string (``ipv4:1.2.3.4:5678`` -> ``1.2.3.4``)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    if kind == "ipv6":
        host = rest.rpartition(":")[0]
        return host.strip("[]") or rest
    return peer

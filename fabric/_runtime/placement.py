"""Placement: which host owns an actor, by rendezvous (highest random weight) hashing.

Every process computes the same owner from the same list of live hosts, without a central
lookup. When a host leaves, only its keys move (each to the host with the next highest
weight); when one joins, only the keys it now wins move to it. That is what lets the
directory (``fabric._runtime.host``) rule that *only the owner may activate* an actor.

blake2b is used (not Python's ``hash``) because the weight must be identical in every
process, whatever its PYTHONHASHSEED.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b

from fabric.actor import ActorAddress


def weight(host_id: str, address: ActorAddress) -> int:
    """The rendezvous weight of ``address`` on ``host_id``."""
    h = blake2b(digest_size=8)
    h.update(host_id.encode())
    h.update(b"\x00")
    h.update(address.kind.encode())
    h.update(b"\x00")
    h.update(address.key.encode())
    return int.from_bytes(h.digest(), "big")


def owner(address: ActorAddress, hosts: Sequence[str]) -> str | None:
    """The host (from ``hosts``) that owns ``address``, or None when there is no host."""
    best: str | None = None
    best_weight = -1
    for host_id in hosts:
        w = weight(host_id, address)
        if w > best_weight or (w == best_weight and best is not None and host_id < best):
            best, best_weight = host_id, w
    return best

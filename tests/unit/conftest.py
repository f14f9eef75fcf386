"""Unit tests run on their own: no Ray, no Cassandra, no network sockets.

Every unit test runs with ``ray.init`` replaced by a function that fails the test, and with
Internet (IPv4/IPv6) socket creation refused, so a unit test that starts Ray or opens a
connection (Cassandra, gRPC, UDP media) fails at once with a message instead of becoming
slow or flaky. Unix sockets stay allowed: an asyncio event loop wakes itself through a
socket pair. Tests that need real parts belong in ``tests/integration`` or ``tests/e2e``.
``make test-fast`` runs this folder alone.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

NETWORK_FAMILIES = {socket.AF_INET, socket.AF_INET6}


class _NoNetworkSocket(socket.socket):
    """``socket.socket`` that refuses the Internet families (unit tests only)."""

    def __init__(self, family: Any = -1, type: Any = -1, proto: int = -1,
                 fileno: int | None = None) -> None:
        if fileno is None and family in NETWORK_FAMILIES | {-1}:
            raise RuntimeError(
                "a unit test opened a network socket: use an in-memory fake of our own "
                "interface here, or move the test to tests/integration")
        super().__init__(family, type, proto, fileno)


def _no_ray_init(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a unit test called ray.init: unit tests run without Ray "
                       "(fake the handles, or move the test to tests/integration)")


@pytest.fixture(autouse=True)
def _unit_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forbid ``ray.init`` and network sockets for the test."""
    import ray

    monkeypatch.setattr(ray, "init", _no_ray_init)
    monkeypatch.setattr(socket, "socket", _NoNetworkSocket)
    yield

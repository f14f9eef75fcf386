"""The driver's connections to a real node have Nagle's algorithm off (TCP_NODELAY): the
process's requests share one connection per node, and with Nagle a request sent while an
earlier one is unacknowledged waits for that one's response."""

from __future__ import annotations

import socket
from typing import Any

from fabric.config import StorageSettings
from fabric.storage.cassandra_session import connect_sync


def _sockets(conn: Any) -> list[Any]:
    """The sockets of the session's request connections (the driver's pools)."""
    out = []
    for pool in conn.session.get_pools():
        out.extend(c._socket for c in pool.get_connections())
    return out


def test_request_connections_have_nagle_off(cassandra_settings: StorageSettings) -> None:
    conn = connect_sync(cassandra_settings)
    try:
        conn.session.execute("SELECT release_version FROM system.local")
        sockets = _sockets(conn)
        assert sockets, "the session opened no connection"
        for sock in sockets:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        conn.shutdown()

"""Connecting to Cassandra and awaiting the driver's async API from asyncio.

- ``execute_async`` returns a driver ``ResponseFuture`` whose callbacks run on the driver's
  I/O thread; :func:`aexecute` hands results to the event loop through a small bridge that
  wakes the loop once per burst of completions, so no thread pool sits in the request path.
- Protocol v4: on this 2-core class of machine v5's framing (checksums computed per segment
  in Python) cost client CPU for nothing we use.
- Load balancing: token-aware over DC-aware round robin on the configured local DC, so
  LOCAL_QUORUM stays in the local DC and each request goes to a replica.
- Rows are the driver's named tuples, but each distinct column list's tuple class is made
  once (:func:`row_factory`): the driver's default makes a new class per response, which
  cost more client CPU than the rest of a claim's response handling.
- TCP_NODELAY on every connection (:data:`SOCKET_OPTIONS`): requests are multiplexed over
  one connection per node, and Nagle's algorithm made each wait for the one before.
- Every driver error becomes :class:`fabric.errors.Unavailable` (retryable), except a CAS
  write timeout, which the caller must resolve by reading back (see the state store).
- Diagnostics: :func:`count_requests` counts the requests this process sends, by statement
  (a batch by its type and its statements), e.g. per call lifecycle in
  ``benchmarks/call_setup.py --count-requests``; off (one ``None`` test per request) unless
  started.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import threading
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra import ConsistencyLevel, DriverException
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import named_tuple_factory

from fabric.config import StorageSettings
from fabric.errors import FabricError, InvalidArgument, Unavailable

CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 10.0
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""Options of each driver connection's socket. The driver leaves Nagle's algorithm on, and
it multiplexes every request of a process over one connection per node: a small request
sent while an earlier one is unacknowledged waits for that acknowledgement (which the node
sends with its response), so concurrent requests queue behind each other's round trips.
``benchmarks/call_setup.py --cassandra``, five runs of each alternating at concurrency 32:
96-115 lifecycles/s with TCP_NODELAY against 80-95 without; p99 dial to ringing 203-243 ms
against 254-345."""


def consistency_of(name: str) -> int:
    """The driver's ConsistencyLevel for a settings name (e.g. ``LOCAL_QUORUM``)."""
    return int(getattr(ConsistencyLevel, name))


@dataclass(slots=True)
class CassandraConnection:
    """A driver cluster and its session on the configured keyspace."""

    cluster: Cluster
    session: Session
    consistency: int

    def shutdown(self) -> None:
        """Close every connection of the driver."""
        self.cluster.shutdown()


def auth_provider(settings: StorageSettings) -> PlainTextAuthProvider | None:
    """Password authentication when ``cassandra_username`` is set (password from its file)."""
    if not settings.cassandra_username:
        return None
    if not settings.cassandra_password_file:
        raise InvalidArgument(
            "storage.cassandra_username is set but storage.cassandra_password_file is not: "
            "name the file that holds the password",
            error_id="cassandra-password-missing",
        )
    password = Path(settings.cassandra_password_file).read_text().strip()
    return PlainTextAuthProvider(username=settings.cassandra_username, password=password)


def tls_context(settings: StorageSettings) -> ssl.SSLContext | None:
    """Client TLS verifying each node against ``cassandra_ca_file`` ('' = no TLS)."""
    if not settings.cassandra_ca_file:
        return None
    context = ssl.create_default_context(cafile=settings.cassandra_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@functools.lru_cache(maxsize=1024)
def _row_class(colnames: tuple[str, ...]) -> Any:
    """The driver's named tuple class for these column names (made once)."""
    return type(named_tuple_factory(list(colnames), [(None,) * len(colnames)])[0])


def row_factory(colnames: list[str], rows: list[Any]) -> list[Any]:
    """The driver's ``named_tuple_factory``, with each column list's class cached."""
    row = _row_class(tuple(colnames))
    return [row(*values) for values in rows]


def connect_sync(settings: StorageSettings, *, use_keyspace: bool = True) -> CassandraConnection:
    """Connect (blocking), on the settings' keyspace unless ``use_keyspace`` is False."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=settings.datacenter)
        ),
        request_timeout=REQUEST_TIMEOUT_S,
        consistency_level=consistency_of(settings.consistency),
        row_factory=row_factory,
    )
    cluster = Cluster(
        contact_points=list(settings.cassandra_hosts),
        port=settings.cassandra_port,
        auth_provider=auth_provider(settings),
        ssl_context=tls_context(settings),
        protocol_version=4,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=CONNECT_TIMEOUT_S,
        control_connection_timeout=CONNECT_TIMEOUT_S,
        idle_heartbeat_interval=10,
        # Come back within ~2 s of a node restart (the default grows to 10 min).
        reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.2, max_delay=2.0),
        sockopts=SOCKET_OPTIONS,
    )
    try:
        session = cluster.connect(settings.keyspace if use_keyspace else None)
    except (NoHostAvailable, DriverException, OSError) as exc:
        cluster.shutdown()
        raise Unavailable(
            f"cannot reach Cassandra at {settings.cassandra_hosts}:{settings.cassandra_port} "
            f"({type(exc).__name__}); start it with `python -m cluster.cassandra up` or fix "
            "storage.cassandra_hosts",
            error_id="cassandra-unreachable",
        ) from exc
    return CassandraConnection(cluster, session, consistency_of(settings.consistency))


async def connect(settings: StorageSettings) -> CassandraConnection:
    """Connect without blocking the event loop."""
    return await asyncio.to_thread(connect_sync, settings)


class _LoopBridge:
    """Hands driver completions to one event loop, waking it once per burst.

    The driver calls back on its I/O thread. ``call_soon_threadsafe`` per response costs a
    self-pipe write and a loop wake-up each; under load, completions are queued and one
    wake-up resolves all that arrived meanwhile. The flag is cleared *before* the queue is
    drained, so a completion queued during a drain schedules the next one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._scheduled = False
        self._lock = threading.Lock()

    def push(self, future: asyncio.Future[Any], rows: Any, exc: BaseException | None) -> None:
        self._pending.append((future, rows, exc))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        pending = self._pending
        while pending:
            future, rows, exc = pending.popleft()
            _resolve(future, rows, exc)


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBridge] = (
    weakref.WeakKeyDictionary()
)


def _bridge(loop: asyncio.AbstractEventLoop) -> _LoopBridge:
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = _LoopBridge(loop)
    return bridge


_counts: Counter[str] | None = None


def count_requests(start: bool) -> dict[str, int]:
    """Start counting requests (``True``: counts so far are dropped), or stop and return
    them: ``statement label -> requests``; a batch counts as ``BATCH <type> <n>`` (n =
    statements) and each statement in it as ``  in batch: <label>``."""
    global _counts
    counts = dict(_counts or {})
    _counts = Counter() if start else None
    return counts


def statement_label(statement: Any) -> str:
    """A short name of a statement: its CQL's first words, ``IF`` and ``TIMESTAMP`` kept."""
    prepared = getattr(statement, "prepared_statement", None)
    text = getattr(prepared, "query_string", None) or getattr(statement, "query_string", None)
    text = str(text if text is not None else statement)
    words = text.split()
    label = " ".join(words[:5])
    for marker in ("IF", "TIMESTAMP"):
        if marker in words:
            label += f" ..{marker}"
    return label


def _count(session: Session, statement: Any) -> None:
    assert _counts is not None
    inner = getattr(statement, "_statements_and_parameters", None)
    if inner is None:
        _counts[statement_label(statement)] += 1
        return
    _counts[f"BATCH {statement.batch_type.name} {len(inner)}"] += 1
    known = session.cluster._prepared_statements
    for is_prepared, query, _ in inner:
        label = statement_label(known.get(query, query) if is_prepared else query)
        _counts[f"  in batch: {label}"] += 1


def aexecute(session: Session, statement: Any, params: Any = None) -> asyncio.Future[Any]:
    """Run a statement with the driver's async API; the future yields the first page's rows."""
    loop = asyncio.get_running_loop()
    if _counts is not None:
        _count(session, statement)
    future: asyncio.Future[Any] = loop.create_future()
    try:
        response = session.execute_async(statement, params)
    except Exception as exc:  # the driver raises synchronously when no host is up
        future.set_exception(exc)
        return future
    bridge = _bridge(loop)
    response.add_callbacks(
        lambda rows: bridge.push(future, rows, None), lambda exc: bridge.push(future, None, exc)
    )
    return future


def _resolve(future: asyncio.Future[Any], rows: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(rows)
    else:
        future.set_exception(exc)


async def run(session: Session, statement: Any, params: Any = None) -> Any:
    """Await a statement; any driver error is raised as ``Unavailable``."""
    try:
        return await aexecute(session, statement, params)
    except FabricError:
        raise
    except Exception as exc:
        raise unavailable(exc) from exc


def unavailable(exc: BaseException) -> Unavailable:
    """Map a driver error onto ``Unavailable`` (no user data in the message)."""
    return Unavailable(
        f"Cassandra did not complete the request ({type(exc).__name__}); retry later",
        error_id="cassandra-unavailable",
        details={"cause": type(exc).__name__},
    )

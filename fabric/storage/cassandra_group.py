"""Group commit on Cassandra: the writes queued during one event-loop iteration go as few
requests as the limits allow (the CDR store's rows, the fenced actor store's writes).

A write is queued with :meth:`GroupCommit.submit`; the first write of an iteration schedules
a flush for the end of it (``loop.call_soon``). The flush takes the queue in order, groups of
at most ``max_items`` writes and, when ``max_bytes`` is set, at most that many bytes (a
group's first write always goes, however large), drops writes whose waiter is gone (a
timed-out caller), has the store build the group's request and sends it. Each write is then
told the group's outcome: done, the store's own ``FabricError``, or any other failure as a
retryable ``Unavailable`` (``cassandra-unavailable``), as the driver's errors are mapped
everywhere else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from fabric.errors import FabricError
from fabric.storage.cassandra_session import CassandraConnection, aexecute, unavailable

T = TypeVar("T")


@dataclass(slots=True)
class _Queued(Generic[T]):
    item: T
    size: int
    done: asyncio.Future[None]


class GroupCommit(Generic[T]):
    """Queued writes of one store, sent in groups (see the module doc)."""

    def __init__(
        self,
        conn: CassandraConnection,
        request: Callable[[list[T]], Any],
        *,
        max_items: int,
        max_bytes: int = 0,
        on_written: Callable[[list[T]], None] | None = None,
    ) -> None:
        """``request`` builds one statement or batch for a group's items (it may raise: the
        group's writes fail); ``on_written`` runs on a written group before its writers
        resume."""
        self._conn = conn
        self._request = request
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._on_written = on_written
        self._queue: deque[_Queued[T]] = deque()
        self._flush_scheduled = False

    def submit(self, item: T, size: int = 0) -> asyncio.Future[None]:
        """Queue one write (all or nothing) for this iteration's group commit."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append(_Queued(item, size, done))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return done

    def _flush(self) -> None:
        self._flush_scheduled = False
        queue = self._queue
        while queue:
            group = [queue.popleft()]
            size = group[0].size
            while queue and len(group) < self._max_items and (
                not self._max_bytes or size + queue[0].size <= self._max_bytes
            ):
                size += queue[0].size
                group.append(queue.popleft())
            group = [q for q in group if not q.done.done()]  # (a cancelled waiter)
            if not group:
                continue
            try:
                request = self._request([q.item for q in group])
            except Exception as exc:  # a value the driver cannot encode: fail these writes
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                self._settle(group, failed)
                continue
            sent = aexecute(self._conn.session, request)
            sent.add_done_callback(partial(self._settle, group))

    def _settle(self, group: list[_Queued[T]], sent: asyncio.Future[Any]) -> None:
        """Hand a group's outcome to each of its writes (a driver error: retryable)."""
        cause = asyncio.CancelledError() if sent.cancelled() else sent.exception()
        error: BaseException | None = None
        if cause is not None and isinstance(cause, FabricError):
            error = cause
        elif cause is not None:
            error = unavailable(cause)
            error.__cause__ = cause
        if error is None and self._on_written is not None:
            self._on_written([q.item for q in group if not q.done.done()])
        for q in group:
            if q.done.done():
                continue
            if error is None:
                q.done.set_result(None)
            else:
                q.done.set_exception(error)

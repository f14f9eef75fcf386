"""Endpoints: in-process inboxes with a routable address (kind ``_endpoint``).

A gRPC stream handler opens one to receive events that actors ``tell`` it. The key names
the process (``<process id>/<n>``), so any process can route a tell to it. An endpoint is
bounded like a mailbox; a tell to a closed or unknown endpoint raises ``Unavailable``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator

from google.protobuf.message import Message

from fabric.actor import ENDPOINT_KIND, ActorAddress
from fabric.errors import ResourceExhausted, Unavailable


class LocalEndpoint:
    """One inbox; iterate it with ``async for``."""

    def __init__(self, address: ActorAddress, capacity: int, table: EndpointTable) -> None:
        self._address = address
        self._capacity = capacity
        self._table = table
        self._items: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self.closed = False

    @property
    def address(self) -> ActorAddress:
        """The routable address of this inbox."""
        return self._address

    def put(self, message: Message) -> None:
        """Queue a message; ``Unavailable`` if closed, ``ResourceExhausted`` if full."""
        if self.closed:
            raise Unavailable("endpoint is closed", error_id="endpoint-closed")
        if len(self._items) >= self._capacity:
            raise ResourceExhausted(
                f"endpoint inbox is full ({self._capacity} messages)",
                error_id="endpoint-full",
            )
        self._items.append(message)
        self._wakeup.set()

    async def get(self) -> Message | None:
        """The next message, or None once closed and empty."""
        while not self._items:
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            message = await self.get()
            if message is None:
                return
            yield message

    def close(self) -> None:
        """Stop receiving; queued messages can still be read."""
        if not self.closed:
            self.closed = True
            self._wakeup.set()
            self._table.forget(self._address.key)


class EndpointTable:
    """The endpoints of one process."""

    def __init__(self, process_id: str, capacity: int) -> None:
        self.process_id = process_id
        self._capacity = capacity
        self._seq = itertools.count(1)
        self._open: dict[str, LocalEndpoint] = {}

    def open(self) -> LocalEndpoint:
        """Open a new endpoint."""
        key = f"{self.process_id}/{next(self._seq)}"
        ep = LocalEndpoint(ActorAddress(ENDPOINT_KIND, key), self._capacity, self)
        self._open[key] = ep
        return ep

    def deliver(self, key: str, message: Message) -> None:
        """Put ``message`` into endpoint ``key``; ``Unavailable`` if it is not open."""
        ep = self._open.get(key)
        if ep is None:
            raise Unavailable("endpoint is closed or unknown", error_id="endpoint-closed")
        ep.put(message)

    def forget(self, key: str) -> None:
        """Drop a closed endpoint."""
        self._open.pop(key, None)

    def close_all(self) -> None:
        """Close every endpoint."""
        for ep in list(self._open.values()):
            ep.close()


def endpoint_process(key: str) -> str:
    """The process id part of an endpoint key."""
    return key.rsplit("/", 1)[0]

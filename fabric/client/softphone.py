"""``Softphone``: a registered extension and its call events, over the Register stream.

Events are queued as they arrive; ``expect`` waits for the next event of a call (or of
any call) with a type, so tests and tools read naturally::

    async with Softphone(client, "102") as phone:
        incoming = await phone.expect(api_calls.CALL_EVENT_INCOMING)
        await client.answer(incoming.call_id, "102")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Self

import grpc

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.client.client import FabricClient
from fabric.edge.status import error_from_status
from fabric.errors import DeadlineExceeded, Unavailable


class Softphone:
    """One extension registered through one Register stream."""

    def __init__(self, client: FabricClient, extension: str, *, ping_s: float = 15.0) -> None:
        self.client = client
        self.extension = extension
        self.registration_id = ""
        self.events: asyncio.Queue[api_calls.CallEvent] = asyncio.Queue()
        self.history: list[api_calls.CallEvent] = []
        self._ping_s = ping_s
        self._outgoing: asyncio.Queue[api_calls.RegisterRequest | None] = asyncio.Queue()
        self._call: grpc.aio.StreamStreamCall | None = None  # type: ignore[type-arg]
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.error: BaseException | None = None

    async def _requests(self) -> AsyncIterator[api_calls.RegisterRequest]:
        yield api_calls.RegisterRequest(register=api_calls.Register(extension=self.extension))
        nonce = itertools.count(1)
        while True:
            try:
                item = await asyncio.wait_for(self._outgoing.get(), self._ping_s)
            except TimeoutError:
                item = api_calls.RegisterRequest(ping=api_calls.Ping(nonce=next(nonce)))
            if item is None:
                return
            yield item

    async def register(self, timeout_s: float = 10.0) -> Self:
        """Open the stream and wait for the registration to be confirmed."""
        self._call = self.client.calls.Register(self._requests(), metadata=self.client.metadata)
        try:
            first = await asyncio.wait_for(self._call.read(), timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise error_from_status(exc.code(), exc.details()) from None
        if (
            not isinstance(first, api_calls.RegisterResponse)
            or first.WhichOneof("msg") != "registered"
        ):
            raise Unavailable("the Register stream closed before confirming")
        self.registration_id = first.registered.registration_id
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._call is not None
        try:
            while True:
                msg = await self._call.read()
                if not isinstance(msg, api_calls.RegisterResponse):  # grpc.aio.EOF
                    return
                if msg.WhichOneof("msg") == "event":
                    self.history.append(msg.event)
                    await self.events.put(msg.event)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = error_from_status(exc.code(), exc.details())
        finally:
            self._closed.set()

    async def expect(
        self, event_type: int, call_id: str = "", timeout_s: float = 10.0
    ) -> api_calls.CallEvent:
        """The next event of ``event_type`` (for ``call_id`` if given); others are skipped."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise DeadlineExceeded(
                    f"no {api_calls.CallEventType.Name(event_type)} within {timeout_s:g} s"  # type: ignore[arg-type]
                )
            try:
                event = await asyncio.wait_for(self.events.get(), left)
            except TimeoutError:
                continue
            if event.type == event_type and (not call_id or event.call_id == call_id):
                return event

    async def close(self) -> None:
        """Unregister (close the stream)."""
        await self._outgoing.put(None)
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def __aenter__(self) -> Self:
        return await self.register()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

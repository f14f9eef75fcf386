"""``Softphone``: a registered extension and its call events, over the Register stream.

Events are queued as they arrive; ``expect`` waits for the next event of a call (or of
any call) with a type, so tests and tools read naturally::

    async with Softphone(client, "102") as phone:
        incoming = await phone.expect(api_calls.CALL_EVENT_INCOMING)
        await client.answer(incoming.call_id, "102")

Staying registered: the phone pings on its stream every ``ping_s`` (the fabric counts the
pings as the session refresh of the phone's calls, and drops a registration that stops
pinging). When the stream breaks (the fabric restarted, a node died, the network went
away) or nothing answers the pings, the phone opens a new stream with exponential backoff
and registers again, so calls in progress keep their party and new calls ring it. Each
change is reported to ``on_connection`` (a :class:`ConnectionEvent`) and logged (without
extension or numbers). After ``give_up_s`` without a registration the phone gives up:
``next_event``/``expect`` raise :class:`PhoneGaveUp` (``error_id`` ``fabric-unreachable``),
as does a refusal that retrying cannot cure (a revoked key, a deleted extension).

Memory: only the last ``history_size`` events are kept in ``history`` (for debugging);
nothing else per call outlives the event's delivery through ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Self

import grpc

from fabric.api.v1 import calls_pb2 as api_calls
from fabric.client.client import FabricClient
from fabric.edge.status import error_from_status
from fabric.errors import DeadlineExceeded, FabricError, Unavailable

log = logging.getLogger(__name__)

# statuses after which a new stream may succeed; any other refusal is final
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class PhoneGaveUp(Unavailable):
    """The softphone could not register again within its ``give_up_s``, or was refused."""

    default_error_id = "fabric-unreachable"


class ConnectionState(enum.Enum):
    """Where the phone's registration stands."""

    REGISTERED = "registered"  # the first registration
    DISCONNECTED = "disconnected"  # the stream broke; reconnecting with backoff
    REREGISTERED = "reregistered"  # a new stream registered again after a break
    GAVE_UP = "gave-up"  # no registration for give_up_s (or a final refusal)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """One change of the phone's connection (given to ``on_connection``)."""

    state: ConnectionState
    attempts: int = 0  # streams tried since the break
    down_s: float = 0.0  # seconds since the break
    error_id: str = ""  # why the stream broke, or why the phone gave up

    def describe(self) -> str:
        """One line for a person (no extension, no numbers of calls)."""
        if self.state is ConnectionState.REGISTERED:
            return "registered"
        if self.state is ConnectionState.DISCONNECTED:
            return f"connection to the fabric lost ({self.error_id}); reconnecting"
        if self.state is ConnectionState.REREGISTERED:
            return (
                f"registered again after {self.down_s:.1f} s "
                f"({self.attempts} attempt{'s' if self.attempts != 1 else ''})"
            )
        return f"gave up after {self.down_s:.1f} s without the fabric ({self.error_id})"


class _StreamBroken(Exception):
    def __init__(self, error: FabricError, retryable: bool) -> None:
        super().__init__(error.error_id)
        self.error = error
        self.retryable = retryable


class Softphone:
    """One extension registered through one Register stream (re-opened when it breaks)."""

    def __init__(
        self,
        client: FabricClient,
        extension: str,
        *,
        ping_s: float = 15.0,
        reconnect: bool = True,
        give_up_s: float = 60.0,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        history_size: int = 64,
        on_connection: Callable[[ConnectionEvent], None] | None = None,
    ) -> None:
        self.client = client
        self.extension = extension
        self.registration_id = ""
        self.events: asyncio.Queue[api_calls.CallEvent] = asyncio.Queue()
        self.history: deque[api_calls.CallEvent] = deque(maxlen=history_size)
        self.reconnects = 0
        self.error: BaseException | None = None
        self._ping_s = ping_s
        self._reconnect = reconnect
        self._give_up_s = give_up_s
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._on_connection = on_connection
        self._outgoing: asyncio.Queue[api_calls.RegisterRequest | None] = asyncio.Queue()
        self._call: grpc.aio.StreamStreamCall | None = None  # type: ignore[type-arg]
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._closing = False

    # ---- the stream -------------------------------------------------------------------

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

    async def _open(self, timeout_s: float) -> None:
        """Open a stream and wait for its confirmation (raises ``_StreamBroken``)."""
        call = self.client.calls.Register(self._requests(), metadata=self.client.metadata)
        self._call = call
        try:
            first = await asyncio.wait_for(call.read(), timeout_s)
        except TimeoutError:
            call.cancel()
            raise _StreamBroken(
                DeadlineExceeded(
                    "no confirmation of the registration", error_id="register-timeout"
                ),
                True,
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise _StreamBroken(
                error_from_status(exc.code(), exc.details()), exc.code() in _RETRYABLE
            ) from None
        if (
            not isinstance(first, api_calls.RegisterResponse)
            or first.WhichOneof("msg") != "registered"
        ):
            raise _StreamBroken(
                Unavailable(
                    "the Register stream closed before confirming", error_id="stream-closed"
                ),
                True,
            )
        self.registration_id = first.registered.registration_id

    async def register(self, timeout_s: float = 10.0) -> Self:
        """Open the stream and wait for the registration to be confirmed.

        A failure here raises at once (the fabric is not there, or refuses): reconnecting
        with backoff is for streams that broke after a registration.
        """
        try:
            await self._open(timeout_s)
        except _StreamBroken as broken:
            raise broken.error from None
        self._report(ConnectionEvent(ConnectionState.REGISTERED))
        self._reader = asyncio.create_task(self._run())
        return self

    async def _read_stream(self) -> None:
        """Deliver events until the stream ends (raises ``_StreamBroken`` unless closing)."""
        call = self._call
        assert call is not None
        quiet_s = 2 * self._ping_s + 5.0  # a pong is due every ping_s
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(call.read(), quiet_s)
                except TimeoutError:
                    call.cancel()
                    raise _StreamBroken(
                        Unavailable("no answer to pings", error_id="ping-timeout"), True
                    ) from None
                if not isinstance(msg, api_calls.RegisterResponse):  # grpc.aio.EOF
                    raise _StreamBroken(
                        Unavailable("the fabric closed the stream", error_id="stream-closed"), True
                    )
                if msg.WhichOneof("msg") == "event":
                    self.history.append(msg.event)
                    await self.events.put(msg.event)
        except grpc.aio.AioRpcError as exc:
            if self._closing:
                return
            raise _StreamBroken(
                error_from_status(exc.code(), exc.details()), exc.code() in _RETRYABLE
            ) from None

    async def _run(self) -> None:
        try:
            while True:
                try:
                    await self._read_stream()
                    return  # closed by us
                except _StreamBroken as broken:
                    if self._closing:
                        return
                    if not (self._reconnect and broken.retryable):
                        self._give_up(broken.error, 0, 0.0, refused=not broken.retryable)
                        return
                    if not await self._reconnect_loop(broken.error):
                        return
        finally:
            self._closed.set()

    async def _reconnect_loop(self, cause: FabricError) -> bool:
        """Open new streams with backoff until one registers (True) or time runs out."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._report(ConnectionEvent(ConnectionState.DISCONNECTED, error_id=cause.error_id))
        delay = self._backoff_s
        attempts = 0
        last = cause
        while True:
            down = loop.time() - started
            if down >= self._give_up_s:
                self._give_up(last, attempts, down)
                return False
            await asyncio.sleep(min(delay, self._give_up_s - down) * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._backoff_max_s)
            if self._closing:
                return False
            attempts += 1
            self._outgoing = asyncio.Queue()  # the old stream's request iterator is gone
            try:
                await self._open(min(10.0, max(1.0, self._give_up_s - down)))
            except _StreamBroken as broken:
                last = broken.error
                if not broken.retryable:
                    self._give_up(last, attempts, loop.time() - started, refused=True)
                    return False
                continue
            self.reconnects += 1
            self._report(
                ConnectionEvent(
                    ConnectionState.REREGISTERED, attempts=attempts, down_s=loop.time() - started
                )
            )
            return True

    def _give_up(
        self, cause: FabricError, attempts: int, down_s: float, refused: bool = False
    ) -> None:
        if refused:
            message = f"the fabric refused the registration [{cause.error_id}]: {cause.message}"
        elif not self._reconnect:
            message = f"the connection to the fabric broke [{cause.error_id}]"
        else:
            message = (
                f"the fabric has been unreachable for {down_s:.0f} s "
                f"({attempts} attempts to register again); giving up"
            )
        self.error = PhoneGaveUp(message, error_id=PhoneGaveUp.default_error_id)
        self._report(
            ConnectionEvent(
                ConnectionState.GAVE_UP, attempts=attempts, down_s=down_s, error_id=cause.error_id
            )
        )

    def _report(self, event: ConnectionEvent) -> None:
        level = logging.WARNING if event.state is ConnectionState.GAVE_UP else logging.INFO
        log.log(level, "softphone %s", event.describe())
        if self._on_connection is not None:
            self._on_connection(event)

    # ---- reading events -----------------------------------------------------------------

    @property
    def gave_up(self) -> bool:
        """True once the phone stopped trying (``error`` says why)."""
        return self._closed.is_set() and self.error is not None

    async def next_event(self, timeout_s: float | None = None) -> api_calls.CallEvent:
        """The next call event; raises ``PhoneGaveUp`` once the phone gave up."""
        if not self.events.empty():
            return self.events.get_nowait()
        get = asyncio.ensure_future(self.events.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait(
                {get, closed}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
            if not get.done():
                get.cancel()
        if get in done:
            return get.result()
        if closed in done:
            if self.error is not None:
                raise self.error
            raise Unavailable("the softphone is closed", error_id="phone-closed")
        raise DeadlineExceeded(f"no call event within {timeout_s:g} s")

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
                event = await self.next_event(left)
            except DeadlineExceeded:
                continue
            if event.type == event_type and (not call_id or event.call_id == call_id):
                return event

    async def close(self) -> None:
        """Unregister (close the stream) and stop reconnecting."""
        self._closing = True
        await self._outgoing.put(None)
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def __aenter__(self) -> Self:
        return await self.register()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""``LocalActorSystem``: the whole runtime in one process, for unit tests and small tools.

One :class:`~fabric._runtime.host.ActorHost` owns every actor; messages never leave the
event loop. Time is injectable (``clock=ManualClock()``), and with ``background=False`` no
loop runs on its own: tests call :meth:`LocalActorSystem.fire_due_reminders` and
:meth:`LocalActorSystem.passivate_idle` explicitly. Stores default to the in-memory ones;
pass SQLite or Cassandra stores to test persistence across systems ("host loss" in a unit
test = stop one system, start another on the same stores).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Self

from google.protobuf.message import Message

from fabric._runtime.endpoint import EndpointTable, LocalEndpoint
from fabric._runtime.host import ActorHost, current_actor
from fabric._runtime.loader import actor_type_table
from fabric._runtime.mailbox import Item
from fabric._runtime.metrics import HostMetrics
from fabric.actor import ENDPOINT_KIND, ActorAddress, ActorRef, VirtualActor
from fabric.clock import Clock, SystemClock
from fabric.config import RuntimeSettings
from fabric.errors import DeadlineExceeded, FabricError, InvalidArgument
from fabric.storage.base import ReminderStore, StateStore
from fabric.storage.memory import MemoryReminderStore, MemoryStateStore

log = logging.getLogger(__name__)


def check_message(message: object) -> None:
    """``InvalidArgument`` unless ``message`` is a protobuf message."""
    if not isinstance(message, Message):
        raise InvalidArgument(
            f"actor messages must be protobuf messages, not {type(message).__name__}",
            error_id="actor-message-not-protobuf",
        )


async def await_reply(
    fut: asyncio.Future[Message], timeout: float, target: ActorAddress
) -> Message:
    """Wait for an ask's future; ``DeadlineExceeded`` after ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        raise DeadlineExceeded(
            f"no answer from {target.kind} actor within {timeout:g} s",
            error_id="actor-ask-timeout",
        ) from None


class LocalActorSystem:
    """Every virtual actor in this process, on one host."""

    def __init__(
        self,
        actor_types: Iterable[type[VirtualActor] | str] = (),
        *,
        state_store: StateStore | None = None,
        reminder_store: ReminderStore | None = None,
        services: Mapping[type, object] | None = None,
        clock: Clock | None = None,
        settings: RuntimeSettings | None = None,
        host_id: str = "local",
        background: bool = True,
    ) -> None:
        self.settings = settings or RuntimeSettings()
        self.clock: Clock = clock or SystemClock()
        self.state_store: StateStore = MemoryStateStore() if state_store is None else state_store
        self.reminder_store: ReminderStore = (
            MemoryReminderStore() if reminder_store is None else reminder_store
        )
        self.host = ActorHost(
            host_id,
            actor_type_table(actor_types),
            state_store=self.state_store,
            reminder_store=self.reminder_store,
            clock=self.clock,
            settings=self.settings,
            services=services,
            metrics=HostMetrics(host_id),
        )
        self.host.system = self
        self.endpoints = EndpointTable(host_id, self.settings.mailbox_capacity)
        self._background = background
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Self:
        """Start the reminder scanner and idle sweeper (unless ``background=False``)."""
        if self._background and not self._loops:
            loop = asyncio.get_running_loop()
            self._loops = [
                loop.create_task(self._every(self.settings.reminder_poll_s,
                                             self.fire_due_reminders)),
                loop.create_task(self._every(self.settings.sweep_interval_s,
                                             self.passivate_idle)),
            ]
        return self

    async def stop(self) -> None:
        """Stop the loops, deactivate every actor (SHUTDOWN), close endpoints."""
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        await self.host.stop()
        self.endpoints.close_all()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _every(self, period: float, work: Callable[[], Awaitable[int]]) -> None:
        while True:
            await self.clock.sleep(period)
            try:
                await work()
            except FabricError as exc:
                log.warning("runtime background work failed: %s", exc.error_id)

    # -- ActorSystem -------------------------------------------------------------------------

    def ref(self, address: ActorAddress) -> ActorRef:
        """A reference to ``address``."""
        return ActorRef(address, self)

    async def open_endpoint(self) -> LocalEndpoint:
        """Open an in-process inbox."""
        return self.endpoints.open()

    # -- Dispatcher --------------------------------------------------------------------------

    async def tell(self, target: ActorAddress, message: Message) -> None:
        """Queue ``message`` for ``target``."""
        check_message(message)
        if target.kind == ENDPOINT_KIND:
            self.endpoints.deliver(target.key, message)
            return
        self.host.enqueue(target, Item(message, sender=current_actor.get()))

    async def ask(self, target: ActorAddress, message: Message, timeout: float | None) -> Message:
        """Queue ``message`` for ``target`` and wait for the answer."""
        check_message(message)
        if target.kind == ENDPOINT_KIND:
            raise InvalidArgument("endpoints take tells, not asks", error_id="endpoint-no-ask")
        timeout = self.settings.ask_timeout_s if timeout is None else timeout
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.host.enqueue(target, Item(
            message, sender=current_actor.get(), reply=fut,
            deadline=self.clock.now() + timeout,
        ))
        return await await_reply(fut, timeout, target)

    # -- maintenance (tests call these with background=False) ------------------------------

    async def fire_due_reminders(self) -> int:
        """Queue due reminders; return how many."""
        return await self.host.fire_due_reminders()

    async def passivate_idle(self) -> int:
        """Queue deactivation of idle activations; return how many."""
        return await self.host.passivate_idle()

    async def idle(self) -> None:
        """Wait until no actor has queued or running work."""
        await self.host.idle()

    def metrics_text(self) -> str:
        """The Prometheus text exposition of the host's metrics."""
        return self.host.metrics.text()

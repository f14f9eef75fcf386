"""Virtual actors: the small public surface of the actor runtime.

A call, a mailbox and a tenant are each an actor, but not each a Ray actor process (one Ray
actor per call measured 3.1 creations/s and 83 MB each). They are *virtual actors*, as in
Orleans: addressed by ``ActorAddress(kind, key)``, activated on their first message inside
a long-lived host that holds thousands of them, run one message at a time, passivated when
idle and re-activated elsewhere from their persisted state when their host dies.

This module holds only the names domain code uses: the address, the actor base class, the
context an activation gets, the reference used to send to an actor and the system protocol.
All machinery (placement, directory, mailboxes, supervision, reminders, transport) lives in
``fabric._runtime``; the two systems that run actors (``LocalActorSystem`` in one process,
``RayActorSystem`` on a Ray cluster) are imported from :mod:`fabric.systems`, so importing
this module never imports Ray.

Messages are protobuf messages. Inside one host they are passed as Python objects, not
copied: a sender must not mutate a message after sending it.
Actors are not re-entrant: an actor that asks itself (directly or through a cycle) waits
until the ask's deadline and gets ``DeadlineExceeded``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from google.protobuf.message import Message

from fabric.errors import FabricError

M = TypeVar("M", bound=Message)
T = TypeVar("T")

ENDPOINT_KIND = "_endpoint"
"""The reserved kind of in-process inboxes opened with :meth:`ActorSystem.open_endpoint`."""

__all__ = [
    "ENDPOINT_KIND",
    "ActorAddress",
    "ActorContext",
    "ActorRef",
    "ActorSystem",
    "DeactivationReason",
    "Directive",
    "Endpoint",
    "VirtualActor",
]


@dataclass(frozen=True, slots=True)
class ActorAddress:
    """The identity of a virtual actor: its kind and its key within that kind."""

    kind: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.key}"


class Directive(enum.Enum):
    """What supervision does after a handler raised."""

    RESUME = "resume"  # keep the activation and its in-memory state, take the next message
    RESTART = "restart"  # new instance, state re-loaded from the store on activation
    STOP = "stop"  # deactivate; the next message activates a fresh instance


class DeactivationReason(enum.Enum):
    """Why an activation ends (given to :meth:`VirtualActor.on_deactivate`)."""

    IDLE = "idle"  # no message for runtime.idle_passivation_s
    REQUESTED = "requested"  # the actor called ctx.deactivate_after_turn()
    RESTART = "restart"  # supervision restarts the actor
    STOP = "stop"  # supervision stops the actor (or restarts ran out)
    OWNERSHIP_MOVED = "ownership-moved"  # host membership changed; another host owns the key
    SHUTDOWN = "shutdown"  # the host or system is stopping


class ActorContext(Protocol):
    """What an activation can do besides handling messages. One per activation."""

    @property
    def address(self) -> ActorAddress:
        """The actor's own address."""
        ...

    @property
    def system(self) -> ActorSystem:
        """The system, to get references to other actors (``ctx.system.ref(addr)``)."""
        ...

    async def load_state(self, message_type: type[M]) -> M | None:
        """Read the persisted state (None if none) and remember its version for the CAS."""
        ...

    async def save_state(self, state: Message) -> None:
        """Persist ``state`` with a compare-and-set on the version last loaded or saved.

        Raises ``FailedPrecondition`` if another activation wrote in between. If the
        activation never loaded, the current version is read first (call ``load_state`` in
        ``on_activate`` to get the full protection of the CAS).
        """
        ...

    async def clear_state(self) -> None:
        """Delete the persisted state."""
        ...

    async def set_reminder(self, name: str, delay_s: float) -> None:
        """Create or move a durable reminder; it fires after passivation or host loss too."""
        ...

    async def cancel_reminder(self, name: str) -> None:
        """Remove a reminder if it exists."""
        ...

    def deactivate_after_turn(self) -> None:
        """Passivate this activation once the current message is handled."""
        ...

    def service(self, service_type: type[T]) -> T:
        """A host-level service made at host start (``Internal`` if none is configured)."""
        ...


class VirtualActor:
    """Base class of domain actors. Subclasses set ``kind`` and override ``handle``."""

    kind: ClassVar[str]

    def __init__(self, ctx: ActorContext) -> None:
        self.ctx = ctx

    async def on_activate(self) -> None:
        """Called before the first message of an activation (load state here)."""

    async def on_deactivate(self, reason: DeactivationReason) -> None:
        """Called when the activation ends (idle, requested, supervision, shutdown)."""

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        """Handle one message; one at a time per actor.

        The return value answers an ask (None answers ``google.protobuf.Empty``). Raising a
        ``FabricError`` answers the ask with that error.
        """
        return None

    async def on_reminder(self, name: str) -> None:
        """A durable reminder set with ``ctx.set_reminder(name, ...)`` is due."""

    def decide(self, exc: BaseException) -> Directive:
        """Supervision: RESUME after a ``FabricError``, RESTART after anything else.

        The runtime bounds restarts (runtime.max_restarts in runtime.restart_window_s, then
        STOP).
        """
        if isinstance(exc, FabricError):
            return Directive.RESUME
        return Directive.RESTART


class Dispatcher(Protocol):
    """The machinery behind :class:`ActorRef` (implemented in ``fabric._runtime``)."""

    async def tell(self, target: ActorAddress, message: Message) -> None:
        """Deliver without waiting for an answer."""
        ...

    async def ask(self, target: ActorAddress, message: Message, timeout: float | None) -> Message:
        """Deliver and wait for the answer."""
        ...


class ActorRef:
    """A reference to a virtual actor; cheap, made by :meth:`ActorSystem.ref`."""

    __slots__ = ("address", "_dispatcher")

    def __init__(self, address: ActorAddress, dispatcher: Dispatcher) -> None:
        self.address = address
        self._dispatcher = dispatcher

    async def tell(self, message: Message) -> None:
        """Send without waiting for the handler.

        Returns once the target's host accepted the message into the actor's mailbox.
        Raises ``ResourceExhausted`` if the mailbox is full and ``Unavailable`` if the
        target's host is gone (both retryable). A tell accepted by a host that dies before
        handling it is lost (at most once); use ``ask`` when the sender must know that the
        actor handled (and persisted) the message. A tell to an endpoint in another
        process returns once queued for it: a closed endpoint or a dead process drops it.
        """
        await self._dispatcher.tell(self.address, message)

    async def ask(self, message: Message, timeout: float | None = None) -> Message:
        """Send and wait for the handler's answer.

        Raises the handler's ``FabricError``; ``DeadlineExceeded`` after ``timeout``
        (default runtime.ask_timeout_s); ``Unavailable`` when the host died mid-ask.
        Never hangs.
        """
        return await self._dispatcher.ask(self.address, message, timeout)

    def __repr__(self) -> str:
        return f"ActorRef({self.address})"


@runtime_checkable
class Endpoint(Protocol):
    """An in-process inbox with a routable address (kind ``_endpoint``)."""

    @property
    def address(self) -> ActorAddress:
        """Where actors ``tell`` to reach this inbox."""
        ...

    def __aiter__(self) -> AsyncIterator[Message]:
        """Iterate over the messages told to this endpoint until it is closed."""
        ...

    def close(self) -> None:
        """Stop receiving; later tells raise ``Unavailable``."""
        ...


class ActorSystem(Protocol):
    """Where references come from: the local system, the Ray system, or a host's view."""

    def ref(self, address: ActorAddress) -> ActorRef:
        """A reference to the actor at ``address`` (no activation happens yet)."""
        ...

    async def open_endpoint(self) -> Endpoint:
        """Open an in-process inbox other actors can ``tell`` to."""
        ...

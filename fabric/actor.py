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
import inspect
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, overload, runtime_checkable

from google.protobuf.message import Message

from fabric.clock import Clock
from fabric.errors import FabricError, Internal, InvalidArgument

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message)
T = TypeVar("T")
K = TypeVar("K", bound=str)
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

Handler = Callable[[Any, Any], Awaitable[Message | None]]
"""A registered handler: ``async def on_x(self, msg: X) -> Y`` (unbound)."""

_HANDLER_MARK = "__fabric_handler__"

ENDPOINT_KIND = "_endpoint"
"""The reserved kind of in-process inboxes opened with :meth:`ActorSystem.open_endpoint`."""

__all__ = [
    "ENDPOINT_KIND",
    "ActorAddress",
    "ActorContext",
    "ActorRef",
    "ActorSystem",
    "Clock",
    "DeactivationReason",
    "Directive",
    "Endpoint",
    "VirtualActor",
    "handler",
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

    @property
    def clock(self) -> Clock:
        """The host's clock: the real one in production, a ``ManualClock`` in tests.

        Actors read time only here (``ctx.clock.now()``, unix seconds), never from
        ``time``; messages do not carry "now".
        """
        ...

    async def load_state(self, message_type: type[M], *, new: bool = False) -> M | None:
        """Read the persisted state (None if none) and remember its version for the CAS.

        ``new=True``: the key is expected to be new (e.g. a call id at its dial); a fenced
        store may then claim first and skip the read when the key was never claimed.
        """
        ...

    async def save_state(self, state: Message) -> None:
        """Persist ``state`` with a compare-and-set on the version last loaded or saved.

        Raises ``FailedPrecondition`` if another activation wrote in between. If the
        activation never loaded, the current version is read first (call ``load_state`` in
        ``on_activate`` to get the full protection of the CAS).
        """
        ...

    async def clear_state(self, *, and_deactivate: bool = False) -> None:
        """Delete the persisted state.

        ``and_deactivate=True``: the actor's last write. The activation passivates after
        this turn, and on a fenced store (Cassandra) the delete is sent now but the turn's
        reply does not wait for it; the activation (and any message queued for it) waits
        for the delete before it is gone, so a next activation never reads the state the
        delete removes. A delete that fails is logged and leaves the state for a next
        activation to find.
        """
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


def handler(fn: F) -> F:
    """Register an actor method as the handler of one message type.

    The method is ``async def on_x(self, msg: X) -> Y``: ``X`` (a protobuf message class,
    from the annotation) is what it handles, ``Y`` what it answers (None answers
    ``google.protobuf.Empty``). :class:`VirtualActor` collects the marked methods of a
    class and its bases (mixins too) when the class is created.
    """
    setattr(fn, _HANDLER_MARK, True)
    return fn


def _handled_type(owner: type, name: str, fn: Callable[..., Any]) -> type[Message]:
    params = list(inspect.signature(fn).parameters)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # noqa: BLE001 - re-raised naming the method
        raise TypeError(f"{owner.__name__}.{name}: cannot resolve its annotations") from exc
    msg_type = hints.get(params[1]) if len(params) == 2 else None
    if not (isinstance(msg_type, type) and issubclass(msg_type, Message)):
        raise TypeError(
            f"{owner.__name__}.{name}: a @handler is `async def {name}(self, msg: X)` "
            "with X a protobuf message class"
        )
    return msg_type


class VirtualActor(Generic[K]):
    """Base class of domain actors, keyed by ``K`` (a ``str`` or a ``NewType`` of it).

    Subclasses set ``kind`` and mark one method per message type with :func:`handler`::

        class CallActor(VirtualActor[CallId]):
            kind = "call"

            @handler
            async def on_start(self, msg: StartCall) -> CallInfo: ...
    """

    kind: ClassVar[str]
    handlers: ClassVar[Mapping[type[Message], Handler]] = {}
    """Message type -> handler, collected from ``@handler`` methods at class creation."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type[Message], Handler] = {}
        seen: set[str] = set()
        for klass in cls.__mro__:  # most derived first: an override hides its base's method
            for name, fn in vars(klass).items():
                if name in seen:
                    continue
                seen.add(name)
                if not getattr(fn, _HANDLER_MARK, False):
                    continue
                msg_type = _handled_type(klass, name, fn)
                if msg_type in table:
                    raise TypeError(
                        f"{cls.__name__}: two handlers for {msg_type.DESCRIPTOR.full_name}"
                    )
                table[msg_type] = fn
        cls.handlers = table

    def __init__(self, ctx: ActorContext) -> None:
        self.ctx = ctx

    @property
    def key(self) -> K:
        """This actor's key (``ctx.address.key`` as ``K``)."""
        return cast(K, self.ctx.address.key)

    async def on_activate(self) -> None:
        """Called before the first message of an activation (load state here)."""

    async def on_deactivate(self, reason: DeactivationReason) -> None:
        """Called when the activation ends (idle, requested, supervision, shutdown)."""

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        """The runtime's entry point: run the ``@handler`` of ``type(message)``.

        One message at a time per actor. The return value answers an ask (None answers
        ``google.protobuf.Empty``). Raising a ``FabricError`` answers the ask with that
        error; a message type without a handler is ``InvalidArgument`` (unknown-message).
        """
        fn = self.handlers.get(type(message))
        if fn is None:
            raise InvalidArgument(
                f"a {self.kind} actor takes no {message.DESCRIPTOR.full_name}",
                error_id="unknown-message",
            )
        return await fn(self, message)

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

    @overload
    async def ask(
        self, message: Message, timeout: float | None = None, *, reply: type[R]
    ) -> R: ...

    @overload
    async def ask(self, message: Message, timeout: float | None = None) -> Message: ...

    async def ask(
        self, message: Message, timeout: float | None = None, *, reply: type[R] | None = None
    ) -> Message:
        """Send and wait for the handler's answer.

        With ``reply=Y`` the answer is checked to be a ``Y`` (``Internal``,
        actor-reply-type, if not) and typed as one. Raises the handler's ``FabricError``;
        ``DeadlineExceeded`` after ``timeout`` (default runtime.ask_timeout_s);
        ``Unavailable`` when the host died mid-ask. Never hangs.
        """
        answer = await self._dispatcher.ask(self.address, message, timeout)
        if reply is not None and not isinstance(answer, reply):
            raise Internal(
                f"{self.address.kind} actor answered {answer.DESCRIPTOR.full_name}, "
                f"not {reply.DESCRIPTOR.full_name}",
                error_id="actor-reply-type",
            )
        return answer

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

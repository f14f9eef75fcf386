"""The :class:`~fabric.actor.ActorContext` of one activation: its state with a CAS
version, its reminders, its services, the host's clock and system.

A context lives as long as one activation; supervision's restart makes a new one (the
version is re-read on the next load).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import DecodeError, Message

from fabric.actor import ActorAddress, ActorSystem
from fabric.clock import Clock
from fabric.errors import FailedPrecondition, Internal, InvalidArgument
from fabric.storage.base import Reminder

if TYPE_CHECKING:
    from fabric._runtime.host import ActorHost

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class ActivationContext:
    """The :class:`~fabric.actor.ActorContext` of one activation."""

    __slots__ = ("_address", "_host", "version", "deactivate_requested", "reminders_set")

    def __init__(self, address: ActorAddress, host: ActorHost) -> None:
        self._address = address
        self._host = host
        self.version: int | None = None
        self.deactivate_requested = False
        self.reminders_set: set[str] | None = None

    @property
    def address(self) -> ActorAddress:
        """The actor's address."""
        return self._address

    @property
    def system(self) -> ActorSystem:
        """The system of the host."""
        return self._host.system

    @property
    def clock(self) -> Clock:
        """The host's clock."""
        return self._host.clock

    async def load_state(self, message_type: type[M]) -> M | None:
        """Load and parse the state; remember its version."""
        stored = await self._host.state_store.load(self._address.kind, self._address.key)
        if stored is None:
            self.version = 0
            return None
        self.version = stored.version
        state = message_type()
        try:
            state.ParseFromString(stored.data)
        except DecodeError as exc:
            raise Internal(
                f"stored state of {self._address.kind} actor does not parse as "
                f"{message_type.DESCRIPTOR.full_name}",
                error_id="actor-state-corrupt",
            ) from exc
        return state

    async def save_state(self, state: Message) -> None:
        """CAS-write the state; a conflict deactivates this (stale) activation."""
        store = self._host.state_store
        if self.version is None:
            stored = await store.load(self._address.kind, self._address.key)
            self.version = stored.version if stored else 0
        try:
            self.version = await store.save(
                self._address.kind, self._address.key, state.SerializeToString(), self.version
            )
        except FailedPrecondition:
            self.deactivate_requested = True
            raise

    async def clear_state(self) -> None:
        """Delete the state."""
        await self._host.state_store.delete(self._address.kind, self._address.key)
        self.version = 0

    async def set_reminder(self, name: str, delay_s: float) -> None:
        """Upsert a durable reminder due in ``delay_s`` seconds."""
        if not name:
            raise InvalidArgument("reminder name must not be empty", error_id="reminder-no-name")
        due = self._host.clock.now() + max(0.0, delay_s)
        await self._host.reminder_store.upsert(
            Reminder(self._address.kind, self._address.key, name, due)
        )
        if self.reminders_set is not None:
            self.reminders_set.add(name)

    async def cancel_reminder(self, name: str) -> None:
        """Remove a reminder."""
        await self._host.reminder_store.cancel(self._address.kind, self._address.key, name)
        if self.reminders_set is not None:
            self.reminders_set.discard(name)

    def deactivate_after_turn(self) -> None:
        """Passivate after the current turn."""
        self.deactivate_requested = True

    def service(self, service_type: type[T]) -> T:
        """A host-level service by type."""
        try:
            svc = self._host.services[service_type]
        except KeyError:
            raise Internal(
                f"no service {service_type.__name__} on this host; add a factory that makes "
                "it to the system's services",
                error_id="actor-service-missing",
            ) from None
        return svc  # type: ignore[return-value]

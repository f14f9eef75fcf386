"""The :class:`~fabric.actor.ActorContext` of one activation: its state with a CAS
version, its reminders, its services, the host's clock and system.

A context lives as long as one activation; supervision's restart makes a new one (the
version is re-read on the next load).

On a :class:`~fabric.storage.base.FencedStateStore` (Cassandra) the activation claims its
actor once and writes through that fence (no compare-and-set per save). An actor found
with state is claimed at once and read again under the claim; one found without state
(a new call, or a lookup of one that ended) is claimed only at its first write, which
then checks that nothing was stored meanwhile (``state-version-conflict`` otherwise), so
lookups never claim. The claim is released when the activation ends with state left.
Reminder changes are collected during a turn and written *with* the state save that
follows them (one write per transition); changes not followed by a save are written by
:meth:`ActivationContext.flush` when the turn ends, before its reply goes out. A failed
turn drops its unwritten changes. An actor's last write (``clear_state(and_deactivate=
True)``) is the one write a reply does not wait for: the deactivation that follows does.
The due times are read once per activation (``reminders_of``), so moving or cancelling a
reminder needs no read.

An actor class with ``pipelined_saves = True`` (one whose turns only change its state and
answer, such as a tenant's index of active calls) does not wait for its saves: the state
goes with the next *group commit* (one write in flight per actor, carrying the latest state
queued meanwhile), and the host sends each turn's reply only once the commit that carries
its state is written. So its throughput is not one write round trip per turn, and nothing
is answered before it is stored. A commit refused by a newer claim fails the turns that
wait for it and the next save. Saves with reminder changes, and deletes, wait as usual.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import DecodeError, Message

from fabric.actor import ActorAddress, ActorSystem
from fabric.clock import Clock
from fabric.errors import FailedPrecondition, Internal, InvalidArgument
from fabric.storage.base import Fence, FencedStateStore, Reminder, ReminderChange
from fabric.storage.sqlite_actor import conflict

if TYPE_CHECKING:
    from fabric._runtime.host import ActorHost

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class ActivationContext:
    """The :class:`~fabric.actor.ActorContext` of one activation."""

    __slots__ = ("_address", "_host", "version", "deactivate_requested", "reminders_set",
                 "_fenced", "fence", "_dues", "_pending", "pipelined", "turn_commit",
                 "_latest", "_next", "_flusher", "_failed")

    def __init__(self, address: ActorAddress, host: ActorHost) -> None:
        self._address = address
        self._host = host
        self.version: int | None = None
        self.deactivate_requested = False
        self.reminders_set: set[str] | None = None
        store = host.state_store
        self._fenced: FencedStateStore | None = (
            store if isinstance(store, FencedStateStore) else None
        )
        self.fence: Fence | None = None
        self._dues: dict[str, float] | None = None
        self._pending: dict[str, ReminderChange] = {}
        self.pipelined = False  # set by the host for actors with ``pipelined_saves``
        self.turn_commit: asyncio.Future[None] | None = None  # the current turn's write
        self._latest: bytes | None = None  # state waiting for the next group commit
        self._next: asyncio.Future[None] | None = None  # the commit that will carry it
        self._flusher: asyncio.Task[None] | None = None
        self._failed: FailedPrecondition | None = None

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

    async def load_state(self, message_type: type[M], *, new: bool = False) -> M | None:
        """Load and parse the state; remember its version.

        ``new``: the caller expects a key new to the store (a call's id at its dial). On a
        fenced store the activation then claims first and, when the claim finds none on
        record (``Fence.fresh``), reads nothing: no fenced writer ever wrote this key, so it
        has neither state nor reminders. A claim on record means a read under it, as usual.
        """
        kind, key = self._address.kind, self._address.key
        if new and self._fenced is not None and self.fence is None:
            self.fence = await self._fenced.claim(kind, key)
            if self.fence.fresh:
                self.version = self.fence.version = 0
                self._dues = {}
                return None
        stored = await self._host.state_store.load(kind, key)
        if self._fenced is not None and self.fence is None and stored is not None:
            self.fence = await self._fenced.claim(kind, key)
            if not self.fence.fresh:
                stored = await self._host.state_store.load(kind, key)  # under the claim
        self.version = 0 if stored is None else stored.version
        if self.fence is not None:
            self.fence.version = self.version
        if stored is None:
            return None
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
        if self._fenced is not None:
            if self.pipelined and not self._pending:
                self._queue_commit(state.SerializeToString())
                return
            await self.settle()
            await self._fenced_write(state.SerializeToString())
            return
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

    async def clear_state(self, *, and_deactivate: bool = False) -> None:
        """Delete the state (``and_deactivate``: see ``ActorContext.clear_state``)."""
        if and_deactivate:
            self.deactivate_requested = True
        if self._fenced is not None:
            await self.settle()
            if and_deactivate and self.fence is not None and self._failed is None:
                self._send_last_delete()
                return
            await self._fenced_write(None)
            return
        await self._host.state_store.delete(self._address.kind, self._address.key)
        self.version = 0

    def _queue_commit(self, data: bytes) -> None:
        """Pipelined save: the state goes with the next group commit; the turn's reply waits
        for that commit (``turn_commit``), the actor's next turn does not."""
        if self._failed is not None:
            raise self._failed
        self._latest = data
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
            self._next.add_done_callback(_retrieve)
        self.turn_commit = self._next
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._commit_loop())

    async def _commit_loop(self) -> None:
        """Write the latest queued state, one write at a time, until none is queued."""
        while self._latest is not None and self._next is not None:
            data, done = self._latest, self._next
            self._latest, self._next = None, None
            try:
                await self._fenced_write(data, with_reminders=False)
            except Exception as exc:  # noqa: BLE001 - handed to the turns that wait for it
                if isinstance(exc, FailedPrecondition):
                    self._failed = exc
                done.set_exception(exc)
            else:
                done.set_result(None)

    def _send_last_delete(self) -> None:
        """Send the delete (with the turn's reminder changes, taken now) without waiting;
        ``settle``, which deactivation runs first, waits for it."""
        changes = tuple(self._pending.values())
        self._pending.clear()
        self._flusher = asyncio.get_running_loop().create_task(self._last_delete(changes))

    async def _last_delete(self, changes: tuple[ReminderChange, ...]) -> None:
        store, fence = self._fenced, self.fence
        assert store is not None and fence is not None
        try:
            self.version = await store.write(fence, None, changes)
        except Exception as exc:  # noqa: BLE001 - the reply went out; the state stays
            self._dues = None
            log.warning("last delete of a %s actor failed (%s); a next activation finds "
                        "its state", self._address.kind,
                        getattr(exc, "error_id", type(exc).__name__))

    async def settle(self) -> None:
        """Wait until every queued state is written (each turn gets its own outcome)."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.wait([flusher])

    async def _fenced_write(self, data: bytes | None, *, with_reminders: bool = True) -> None:
        store = self._fenced
        assert store is not None
        if self.fence is None:  # first write: claim, then check what is stored now
            fence = await store.claim(self._address.kind, self._address.key)
            if fence.fresh and self.version is not None:
                current = self.version  # no fenced writer since our load (see Fence.fresh)
            else:
                stored = await store.load(self._address.kind, self._address.key)
                current = 0 if stored is None else stored.version
            if self.version is not None and current != self.version:
                self.deactivate_requested = True
                self._pending.clear()
                await store.release(fence)
                raise conflict(self._address.kind, current, self.version)
            fence.version = current
            self.fence = fence
        changes = tuple(self._pending.values()) if with_reminders else ()
        if with_reminders:
            self._pending.clear()
        try:
            self.version = await store.write(self.fence, data, changes)
        except FailedPrecondition:
            self.deactivate_requested = True
            self._dues = None
            raise
        except Exception:
            self._dues = None  # the write may or may not have landed: read the dues again
            raise

    async def _known_dues(self) -> dict[str, float]:
        if self._dues is None:
            assert self._fenced is not None
            found = await self._fenced.reminders_of(self._address.kind, self._address.key)
            self._dues = dict(found)  # (nothing is pending while the dues are unknown)
        return self._dues

    async def set_reminder(self, name: str, delay_s: float) -> None:
        """Upsert a durable reminder due in ``delay_s`` seconds."""
        if not name:
            raise InvalidArgument("reminder name must not be empty", error_id="reminder-no-name")
        due = self._host.clock.now() + max(0.0, delay_s)
        if self._fenced is not None:
            dues = await self._known_dues()
            before = self._pending.get(name)
            previous = before.previous if before is not None else dues.get(name)
            self._pending[name] = ReminderChange(name, due, previous)
            dues[name] = due
        else:
            await self._host.reminder_store.upsert(
                Reminder(self._address.kind, self._address.key, name, due)
            )
        if self.reminders_set is not None:
            self.reminders_set.add(name)

    async def cancel_reminder(self, name: str) -> None:
        """Remove a reminder."""
        if self._fenced is not None:
            dues = await self._known_dues()
            before = self._pending.get(name)
            previous = before.previous if before is not None else dues.get(name)
            if previous is None:
                self._pending.pop(name, None)  # set and cancelled within the turn: nothing
            else:
                self._pending[name] = ReminderChange(name, None, previous)
            dues.pop(name, None)
        else:
            await self._host.reminder_store.cancel(self._address.kind, self._address.key, name)
        if self.reminders_set is not None:
            self.reminders_set.discard(name)

    async def flush(self) -> None:
        """Write the reminder changes no state save has carried (end of a turn)."""
        if not self._pending:
            return
        assert self._fenced is not None
        changes = tuple(self._pending.values())
        self._pending.clear()
        try:
            await self._fenced.change_reminders(self._address.kind, self._address.key, changes)
        except Exception:
            self._dues = None
            raise

    async def release(self) -> None:
        """The activation ends: give its claim up if it leaves state behind."""
        if self._fenced is not None and self.fence is not None and self.fence.version > 0:
            await self._fenced.release(self.fence)

    def discard_pending(self) -> None:
        """Drop the unwritten reminder changes of a failed turn."""
        if self._pending:
            self._pending.clear()
            self._dues = None

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


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a commit's error as seen (a tell's turn has nobody to hand it to)."""
    if not future.cancelled():
        future.exception()

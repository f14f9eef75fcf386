"""The actor host: activation table (the local directory), turns, lifecycle, reminders.

One ``ActorHost`` lives in each host process (a Ray actor) and in a ``LocalActorSystem``.
It knows nothing about Ray: the process around it decides which addresses this host owns
(rendezvous hashing over live hosts, see ``placement``) and only hands it messages for
actors it owns. Within the host (each activation's ``ActorContext`` is in ``context``):

- **Directory**: ``_table`` maps an address to its one activation. Activation is
  synchronous (an entry is created before any ``await``), so two concurrent first messages
  can never create two activations in one host; across hosts, only the owner activates,
  and the state store's compare-and-set catches a stale writer during a membership change
  (the stale activation is then deactivated after its turn).
- **Turns**: each activation has a bounded :class:`~fabric._runtime.mailbox.Mailbox` and,
  only while it has work, one drain task that runs its items one at a time. Many actors run
  concurrently on the host's event loop; one actor never runs two turns at once.
- **Lifecycle**: ``on_activate`` before the first item, ``on_deactivate(reason)`` when the
  activation ends; idle activations are passivated by :meth:`ActorHost.passivate_idle`.
  Deactivation goes through the mailbox (a control item), so it is ordered with messages;
  items queued behind it are handed back to the router, which re-activates the actor here
  or forwards to its new owner.
- **Supervision**: a handler's exception answers the ask (a ``FabricError`` as is, anything
  else as ``Internal``) and the actor's ``decide`` picks RESUME / RESTART / STOP, with
  bounded restarts.
- **Reminders**: :meth:`ActorHost.fire_due_reminders` scans the reminder store and runs due
  reminders of owned actors as turns (activating them if needed). A reminder is removed
  after ``on_reminder`` returns, unless the turn set it again: delivery is at least once.
  The removal (or the retry of a failed turn's reminder) goes through the activation's
  context, so on a fenced store it is written with the turn's other reminder changes;
  every turn's changes are written (``ActivationContext.flush``) before its reply.
- **Pipelined saves**: for an actor class with ``pipelined_saves = True`` the reply of a
  turn that saved is sent when the group commit carrying its state is written, while the
  actor goes on with its next turns (see ``context``); a deactivation waits for the
  commits first.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.empty_pb2 import Empty

from fabric._runtime.context import ActivationContext
from fabric._runtime.mailbox import Item, Mailbox
from fabric._runtime.metrics import HostMetrics
from fabric._runtime.supervision import RestartBudget, bounded
from fabric.actor import (
    ActorAddress,
    ActorSystem,
    DeactivationReason,
    Directive,
    VirtualActor,
)
from fabric.clock import Clock
from fabric.config import RuntimeSettings
from fabric.errors import (
    DeadlineExceeded,
    FabricError,
    Internal,
    InvalidArgument,
    Unavailable,
)
from fabric.storage.base import ReminderStore, StateStore

log = logging.getLogger(__name__)

current_actor: contextvars.ContextVar[ActorAddress | None] = contextvars.ContextVar(
    "fabric_current_actor", default=None
)
"""The address of the actor whose turn is running (the sender of what it sends)."""

_EMPTY = Empty()
_REMINDER_RETRY_S = 5.0


class Activation:
    """One resident virtual actor: instance, context, mailbox, bookkeeping."""

    __slots__ = ("address", "actor", "ctx", "mailbox", "running", "last_active", "closed",
                 "budget")

    def __init__(
        self, address: ActorAddress, ctx: ActivationContext, capacity: int, now: float
    ) -> None:
        self.address = address
        self.actor: VirtualActor | None = None
        self.ctx = ctx
        self.mailbox = Mailbox(capacity)
        self.running = False
        self.last_active = now
        self.closed = False
        self.budget: RestartBudget | None = None


Rerouter = Callable[[ActorAddress, Item], None]
"""Where items queued behind a deactivation go (re-activate here or forward to the owner)."""


class ActorHost:
    """Virtual actors resident in one process."""

    def __init__(
        self,
        host_id: str,
        actor_types: Mapping[str, type[VirtualActor]],
        *,
        state_store: StateStore,
        reminder_store: ReminderStore,
        clock: Clock,
        settings: RuntimeSettings,
        services: Mapping[type, object] | None = None,
        metrics: HostMetrics | None = None,
    ) -> None:
        self.host_id = host_id
        self.actor_types = dict(actor_types)
        self.state_store = state_store
        self.reminder_store = reminder_store
        self.clock = clock
        self.settings = settings
        self.services: dict[type, object] = dict(services or {})
        self.metrics = metrics or HostMetrics(host_id)
        self.system: ActorSystem = _NoSystem()
        self.rerouter: Rerouter = self._requeue_here
        self._table: dict[ActorAddress, Activation] = {}
        self._drains: set[asyncio.Task[None]] = set()
        self._reminders_inflight: set[tuple[str, str, str]] = set()
        self._stopping = False

    # -- directory -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._table)

    def resident(self) -> list[ActorAddress]:
        """Addresses of the resident activations."""
        return list(self._table)

    def is_resident(self, address: ActorAddress) -> bool:
        """Whether ``address`` has an activation here."""
        return address in self._table

    def check_kind(self, kind: str) -> None:
        """``InvalidArgument`` unless an actor type is registered for ``kind``."""
        if kind not in self.actor_types:
            raise InvalidArgument(
                f"no actor type is registered for kind {kind!r}; pass it in actor_types",
                error_id="actor-unknown-kind",
            )

    # -- entry points ----------------------------------------------------------------------

    def enqueue(self, address: ActorAddress, item: Item) -> None:
        """Queue ``item`` for the actor, activating it if needed.

        Raises ``InvalidArgument`` (unknown kind), ``ResourceExhausted`` (full mailbox) or
        ``Unavailable`` (host stopping); never blocks.
        """
        if self._stopping and item.stop is None:
            raise Unavailable("actor host is stopping; retry", error_id="actor-host-stopping")
        act = self._table.get(address)
        if act is None:
            self.check_kind(address.kind)
            act = Activation(
                address, ActivationContext(address, self), self.settings.mailbox_capacity,
                self.clock.now(),
            )
            self._table[address] = act
            self.metrics.resident.inc()
        try:
            act.mailbox.put(item, address)
        except FabricError:
            self.metrics.rejected.inc()
            raise
        self.metrics.mailbox_depth.inc()
        if not act.running:
            act.running = True
            task = asyncio.get_running_loop().create_task(self._drain(act))
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)

    async def passivate_idle(self, idle_s: float | None = None) -> int:
        """Deactivate activations idle for ``idle_s`` (default the setting); return how many."""
        limit = self.settings.idle_passivation_s if idle_s is None else idle_s
        now = self.clock.now()
        idle = [
            a.address for a in self._table.values()
            if not a.running and not a.mailbox and now - a.last_active >= limit
        ]
        for address in idle:
            self.enqueue(address, Item(None, stop=DeactivationReason.IDLE))
        return len(idle)

    def deactivate(self, addresses: Iterable[ActorAddress], reason: DeactivationReason) -> int:
        """Queue a deactivation of each resident address in ``addresses``; return how many."""
        n = 0
        for address in addresses:
            if address in self._table:
                self.enqueue(address, Item(None, stop=reason))
                n += 1
        return n

    async def fire_due_reminders(
        self, owns: Callable[[ActorAddress], bool] = lambda _a: True, limit: int = 1000
    ) -> int:
        """Queue the due reminders of actors this host owns; return how many were queued."""
        due = await self.reminder_store.due(self.clock.now(), limit)
        fired = 0
        for r in due:
            ident = (r.kind, r.key, r.name)
            address = ActorAddress(r.kind, r.key)
            if ident in self._reminders_inflight or r.kind not in self.actor_types:
                continue
            if not owns(address):
                continue
            self._reminders_inflight.add(ident)
            try:
                self.enqueue(address, Item(None, reminder=r.name, deadline=r.due))
            except FabricError:
                self._reminders_inflight.discard(ident)
                continue
            fired += 1
        return fired

    async def idle(self) -> None:
        """Wait until no activation has work queued or running."""
        while self._drains:
            await asyncio.gather(*list(self._drains), return_exceptions=True)

    async def stop(self, timeout: float = 10.0) -> None:
        """Deactivate every activation (reason SHUTDOWN) and refuse new messages."""
        self._stopping = True
        self.deactivate(list(self._table), DeactivationReason.SHUTDOWN)
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            log.warning("actor host %s: %d activations did not stop in %.0f s",
                        self.host_id, len(self._table), timeout)
            for task in list(self._drains):
                task.cancel()

    # -- turns -----------------------------------------------------------------------------

    async def _drain(self, act: Activation) -> None:
        leftovers: list[Item] = []
        try:
            while act.mailbox:
                item = act.mailbox.take()
                self.metrics.mailbox_depth.dec()
                if item.stop is not None:
                    if act.actor is not None:
                        await self._end(act, item.stop)
                    else:
                        self._remove(act)
                    leftovers = act.mailbox.drain_all()
                    break
                if item.deadline and item.reply is not None and self.clock.now() > item.deadline:
                    _fail(item, DeadlineExceeded(
                        f"ask to {act.address.kind} actor expired in its mailbox",
                        error_id="actor-ask-expired"))
                    continue
                if act.actor is None and not await self._activate(act, item):
                    continue
                await self._turn(act, item)
                if act.ctx.deactivate_requested and act.actor is not None:
                    await self._end(act, DeactivationReason.REQUESTED)
                    leftovers = act.mailbox.drain_all()
                    break
        finally:
            act.running = False
            act.last_active = self.clock.now()
        if leftovers:
            self.metrics.mailbox_depth.dec(len(leftovers))
            for item in leftovers:
                if item.is_control:
                    # a reminder stays in the store; the owner's next scan fires it
                    self._finish_reminder(act, item, ok=False)
                    continue
                self.rerouter(act.address, item)

    async def _activate(self, act: Activation, item: Item) -> bool:
        cls = self.actor_types[act.address.kind]
        act.ctx = ActivationContext(act.address, self)
        try:
            actor = cls(act.ctx)
            token = current_actor.set(act.address)
            try:
                await actor.on_activate()
                await act.ctx.flush()
            finally:
                current_actor.reset(token)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is supervised
            log.warning("activation of a %s actor failed: %s", act.address.kind,
                        type(exc).__name__)
            _fail(item, exc if isinstance(exc, FabricError) else Unavailable(
                f"{act.address.kind} actor failed to activate ({type(exc).__name__}); retry",
                error_id="actor-activation-failed"))
            self._finish_reminder(act, item, ok=False)
            return False
        act.actor = actor
        act.ctx.pipelined = bool(getattr(cls, "pipelined_saves", False))
        if act.budget is None:
            act.budget = RestartBudget(
                self.clock, self.settings.max_restarts, self.settings.restart_window_s
            )
        self.metrics.activations.inc()
        return True

    async def _turn(self, act: Activation, item: Item) -> None:
        actor = act.actor
        assert actor is not None
        ctx = act.ctx
        token = current_actor.set(act.address)
        started = time.perf_counter()
        try:
            if item.reminder is not None:
                ctx.reminders_set = set()
                await actor.on_reminder(item.reminder)
                await self._finish_reminder_async(act, item, ok=True)
            else:
                assert item.message is not None
                ctx.turn_commit = None
                result = await actor.handle(item.message, item.sender)
                await ctx.flush()  # the turn's reminder changes are durable before the reply
                answer = _EMPTY if result is None else result
                commit, ctx.turn_commit = ctx.turn_commit, None
                if item.reply is not None and not item.reply.done():
                    if commit is None:
                        item.reply.set_result(answer)
                    else:  # a pipelined save: answer once it is written
                        commit.add_done_callback(_reply_when_written(item.reply, answer))
        except Exception as exc:  # noqa: BLE001 - supervised below
            await self._supervise(act, actor, item, exc)
        finally:
            ctx.reminders_set = None
            current_actor.reset(token)
            self.metrics.handler_seconds.observe(time.perf_counter() - started)
            self.metrics.handled.inc()

    async def _supervise(
        self, act: Activation, actor: VirtualActor, item: Item, exc: Exception
    ) -> None:
        self.metrics.failed.inc()
        act.ctx.discard_pending()
        if isinstance(exc, FabricError):
            _fail(item, exc)
        else:
            _fail(item, Internal(
                f"handler of {act.address.kind} actor failed ({type(exc).__name__})",
                error_id="actor-handler-failed"))
        if item.reminder is not None:
            await self._finish_reminder_async(act, item, ok=False)
        try:
            decided = actor.decide(exc)
        except Exception:  # noqa: BLE001 - a broken decider stops the actor
            decided = Directive.STOP
        assert act.budget is not None
        directive = bounded(decided, act.budget)
        if directive is not Directive.RESUME:
            log.warning("%s actor raised %s: %s", act.address.kind, type(exc).__name__,
                        directive.value)
        if directive is Directive.RESTART:
            await self._call_deactivate(act, DeactivationReason.RESTART)
            act.actor = None  # the next item activates a new instance from stored state
        elif directive is Directive.STOP:
            act.ctx.deactivate_requested = False
            # the stop runs ahead of queued messages, which then re-activate a fresh instance
            act.mailbox.push_front(Item(None, stop=DeactivationReason.STOP))
            self.metrics.mailbox_depth.inc()

    async def _end(self, act: Activation, reason: DeactivationReason) -> None:
        await self._call_deactivate(act, reason)
        self._remove(act)

    async def _call_deactivate(self, act: Activation, reason: DeactivationReason) -> None:
        actor = act.actor
        if actor is None:
            return
        token = current_actor.set(act.address)
        try:
            await act.ctx.settle()
            await actor.on_deactivate(reason)
            await act.ctx.flush()
            await act.ctx.release()
        except Exception as exc:  # noqa: BLE001 - deactivation goes on regardless
            log.warning("on_deactivate of a %s actor raised %s", act.address.kind,
                        type(exc).__name__)
        finally:
            current_actor.reset(token)
        act.actor = None
        self.metrics.passivations.inc()

    def _remove(self, act: Activation) -> None:
        act.closed = True
        if self._table.get(act.address) is act:
            del self._table[act.address]
            self.metrics.resident.dec()

    def _finish_reminder(self, act: Activation, item: Item, *, ok: bool) -> None:
        if item.reminder is not None:
            self._reminders_inflight.discard((act.address.kind, act.address.key, item.reminder))

    async def _finish_reminder_async(self, act: Activation, item: Item, *, ok: bool) -> None:
        name = item.reminder
        assert name is not None
        kind, key = act.address.kind, act.address.key
        ctx = act.ctx
        try:
            if ok:
                if not (ctx.reminders_set and name in ctx.reminders_set):
                    await ctx.cancel_reminder(name)
            else:
                await ctx.set_reminder(name, _REMINDER_RETRY_S)
            await ctx.flush()
        except FabricError as exc:
            log.warning("reminder bookkeeping of a %s actor failed: %s", kind, exc.error_id)
        finally:
            self._reminders_inflight.discard((kind, key, name))

    def _requeue_here(self, address: ActorAddress, item: Item) -> None:
        try:
            self.enqueue(address, item)
        except FabricError as exc:
            _fail(item, exc)


def _reply_when_written(
    reply: asyncio.Future[Any], answer: Any
) -> Callable[[asyncio.Future[None]], None]:
    def done(commit: asyncio.Future[None]) -> None:
        if reply.done():
            return
        exc = None if commit.cancelled() else commit.exception()
        if commit.cancelled():
            reply.set_exception(Unavailable("the state save was cancelled; retry",
                                            error_id="actor-save-cancelled"))
        elif exc is not None:
            reply.set_exception(exc)
        else:
            reply.set_result(answer)

    return done


def _fail(item: Item, exc: BaseException) -> None:
    if item.reply is not None and not item.reply.done():
        item.reply.set_exception(exc)


class _NoSystem:
    """Placeholder until the owning system attaches itself to the host."""

    def ref(self, address: ActorAddress) -> Any:
        """Refuse: the host is not attached to a system yet."""
        raise Internal("actor host is not attached to a system", error_id="actor-no-system")

    async def open_endpoint(self) -> Any:
        """Refuse: the host is not attached to a system yet."""
        raise Internal("actor host is not attached to a system", error_id="actor-no-system")

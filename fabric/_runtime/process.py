"""The actor system as seen from one process of a Ray deployment (host, gateway or driver).

``ProcessRouter`` is the ``ActorSystem`` (and ``ActorRef`` dispatcher) of a process. It
routes each message by placement over the current membership view:

- target owned by this process's own host -> the host's mailbox, no serialization;
- any other actor -> the transport's outbox for the owning host (batched Ray call);
- an endpoint -> the local endpoint table, or the outbox of the process that holds it.
  A tell to an endpoint in another process is *posted*: it returns once queued in the
  outbox, without waiting for the receiver's acknowledgement (the API lets a tell to a
  closed endpoint or a dead process be dropped; refusals are counted in
  ``endpoint_drops``). So an actor that emits events to gateway streams does not wait a
  Ray round trip per event inside its turn, and its events and its answer leave together
  in one batch.

Answers to asks from another host process are pushed back through this process's outbox
to the caller (``push_replies`` callers: hosts and gateways, which take Ray calls); the
driver's answers wait in reply slots for its poll (see ``transport``).

It also receives batches (``deliver``) for the host process around it. An envelope for an
actor this host does not own under its view (membership moved while it travelled) is
forwarded once more by this process (``hops`` bounds it), so a sender with a stale view
still reaches the one activation. When the view changes, the host deactivates the actors
it no longer owns (``OWNERSHIP_MOVED``) and asks pending on hosts that left fail with
``Unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from fabric._runtime import placement, wire
from fabric._runtime.endpoint import EndpointTable, LocalEndpoint, endpoint_process
from fabric._runtime.host import ActorHost, current_actor
from fabric._runtime.local import await_reply, check_message
from fabric._runtime.mailbox import Item
from fabric._runtime.registry import View
from fabric._runtime.transport import ReplySlots, Transport, host_unavailable, reply_of
from fabric.actor import ENDPOINT_KIND, ActorAddress, ActorRef, DeactivationReason
from fabric.config import RuntimeSettings
from fabric.errors import FabricError, FailedPrecondition, InvalidArgument, Unavailable
from fabric.wire.v1 import envelope_pb2 as wire_pb

log = logging.getLogger(__name__)

MAX_HOPS = 2


class ProcessRouter:
    """Routing, delivery and membership of one process."""

    def __init__(
        self,
        process_id: str,
        *,
        settings: RuntimeSettings,
        handle: Callable[[str], Any],
        on_suspect: Callable[[str], None],
        host: ActorHost | None = None,
        incarnation: str = "",
        accepts_endpoints: bool = True,
        push_replies: bool = False,
    ) -> None:
        self.process_id = process_id
        self.settings = settings
        self.host = host
        self.view = View(-1)
        self._actor_hosts: list[str] = []
        self._owner_cache: dict[ActorAddress, str | None] = {}
        self.transport = Transport(process_id, handle, self._suspect,
                                   push_replies=push_replies, incarnation=incarnation)
        self.replies = ReplySlots(incarnation)
        self.endpoints = EndpointTable(process_id, settings.mailbox_capacity)
        self._accepts_endpoints = accepts_endpoints
        self._on_suspect = on_suspect
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped = 0
        self.endpoint_drops = 0  # posted endpoint tells the receiver refused or never got
        if host is not None:
            host.system = self
            host.rerouter = self._reroute

    # -- membership ------------------------------------------------------------------------

    def apply_view(self, view: View) -> bool:
        """Adopt a newer view; deactivate actors no longer owned here. True if adopted."""
        if view.epoch <= self.view.epoch:
            return False
        old_hosts = self.view.hosts
        self.view = view
        self._actor_hosts = view.actor_hosts()
        self._owner_cache.clear()
        for host_id, old in old_hosts.items():
            new = view.hosts.get(host_id)
            if new is None:
                self.transport.fail_host(host_id, host_unavailable(host_id,
                                                                   "left the membership"))
            elif new.incarnation != old.incarnation:
                self.transport.host_restarted(host_id, new.incarnation)
        if self.host is not None:
            unowned = [a for a in self.host.resident() if self.owner(a) != self.process_id]
            if unowned:
                log.info("host %s: %d actors moved to other hosts", self.process_id,
                         len(unowned))
                self.host.deactivate(unowned, DeactivationReason.OWNERSHIP_MOVED)
        return True

    def owner(self, address: ActorAddress) -> str | None:
        """The host that owns ``address`` under the current view (cached per view)."""
        try:
            return self._owner_cache[address]
        except KeyError:
            pass
        found = placement.owner(address, self._actor_hosts)
        if len(self._owner_cache) > 200_000:
            self._owner_cache.clear()
        self._owner_cache[address] = found
        return found

    def owns(self, address: ActorAddress) -> bool:
        """Whether this process's host owns ``address``."""
        return self.host is not None and self.owner(address) == self.process_id

    def _suspect(self, host_id: str) -> None:
        self._on_suspect(host_id)

    def _owner_or_fail(self, target: ActorAddress) -> str:
        dest = self.owner(target)
        if dest is None:
            raise Unavailable(
                "no live actor host; wait for the hosts to start or come back",
                error_id="actor-no-hosts",
            )
        return dest

    # -- ActorSystem -----------------------------------------------------------------------

    def ref(self, address: ActorAddress) -> ActorRef:
        """A reference to ``address``."""
        return ActorRef(address, self)

    async def open_endpoint(self) -> LocalEndpoint:
        """Open an inbox in this process (hosts and gateways only)."""
        if not self._accepts_endpoints:
            raise FailedPrecondition(
                "endpoints live in host processes; open them in a gateway service",
                error_id="endpoint-not-here",
            )
        return self.endpoints.open()

    # -- Dispatcher ------------------------------------------------------------------------

    async def tell(self, target: ActorAddress, message: Message) -> None:
        """Route a tell from this process."""
        check_message(message)
        await self.route_tell(target, message, current_actor.get(), 0)

    async def ask(self, target: ActorAddress, message: Message, timeout: float | None) -> Message:
        """Route an ask from this process."""
        check_message(message)
        timeout = self.settings.ask_timeout_s if timeout is None else timeout
        return await self.route_ask(
            target, message, current_actor.get(), time.time() + timeout, 0
        )

    async def route_tell(
        self, target: ActorAddress, message: Message, sender: ActorAddress | None, hops: int
    ) -> None:
        """Deliver a tell locally or through the outbox of the owning process."""
        if target.kind == ENDPOINT_KIND:
            dest = endpoint_process(target.key)
            if dest == self.process_id:
                self.endpoints.deliver(target.key, message)
                return
            env = wire.envelope(target, message, sender=sender, hops=hops)
            self.transport.post(dest, env).add_done_callback(self._posted)
            return
        else:
            dest = self._owner_or_fail(target)
            if dest == self.process_id and self.host is not None:
                self.host.enqueue(target, Item(message, sender=sender))
                return
        env = wire.envelope(target, message, sender=sender, hops=hops)
        await self.transport.tell(dest, env)

    async def route_ask(
        self,
        target: ActorAddress,
        message: Message,
        sender: ActorAddress | None,
        deadline: float,
        hops: int,
    ) -> Message:
        """Deliver an ask locally or remotely and wait for its answer until ``deadline``."""
        if target.kind == ENDPOINT_KIND:
            raise InvalidArgument("endpoints take tells, not asks", error_id="endpoint-no-ask")
        timeout = max(0.0, deadline - time.time())
        dest = self._owner_or_fail(target)
        if dest == self.process_id and self.host is not None:
            fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
            self.host.enqueue(target, Item(message, sender=sender, reply=fut, deadline=deadline))
            return await await_reply(fut, timeout, target)
        env = wire.envelope(target, message, sender=sender, deadline=deadline, hops=hops)
        return await self.transport.ask(dest, env, timeout)

    # -- receiving -------------------------------------------------------------------------

    def deliver(self, raw: bytes, replies: bytes = b"", sender: str = "",
                push: bool = False) -> bytes:
        """Enqueue a batch from another process; answer which envelopes were refused.

        ``replies`` are answers ``sender`` pushes to this process's asks; ``push`` says
        that ``sender`` takes its answers pushed (else they wait for its poll).
        Synchronous up to the answer, so the order of envelopes within and across batches
        from one sender is the order of enqueueing.
        """
        if replies:
            self.transport.take_replies(sender, replies)
        ack = wire_pb.BatchAck(incarnation=self.replies.incarnation)
        try:
            batch = wire_pb.EnvelopeBatch.FromString(raw)
        except Exception:  # noqa: BLE001 - a malformed batch is dropped and counted
            self.dropped += 1
            return ack.SerializeToString()
        loop = asyncio.get_running_loop()
        for index, env in enumerate(batch.envelopes):
            try:
                self._deliver_one(env, loop, push)
            except FabricError as exc:
                rejection = ack.rejections.add(index=index)
                wire.error_to_wire(exc, rejection.error)
        return ack.SerializeToString()

    def _deliver_one(self, env: wire_pb.Envelope, loop: asyncio.AbstractEventLoop,
                     push: bool = False) -> None:
        target = wire.address_from_wire(env.target)
        message = wire.unpack(env.payload)
        sender = wire.address_from_wire(env.sender) if env.HasField("sender") else None
        is_ask = env.correlation_id != 0
        if target.kind == ENDPOINT_KIND:
            if is_ask:
                raise InvalidArgument("endpoints take tells, not asks",
                                      error_id="endpoint-no-ask")
            self.endpoints.deliver(target.key, message)
            return
        if self.owns(target):
            assert self.host is not None
            reply: asyncio.Future[Message] | None = None
            if is_ask:
                reply = loop.create_future()
            self.host.enqueue(target, Item(message, sender=sender, reply=reply,
                                           deadline=env.deadline))
            if reply is not None:
                reply.add_done_callback(self._reply_callback(env.reply_to, env.correlation_id,
                                                             push))
            return
        if env.hops >= MAX_HOPS:
            raise Unavailable(
                "membership is changing; the actor's owner is not settled yet, retry",
                error_id="actor-owner-moving",
            )
        self._spawn(self._forward(env, target, message, sender, push))

    def _posted(self, ack: asyncio.Future[str]) -> None:
        if ack.cancelled() or ack.exception() is not None:
            self.endpoint_drops += 1

    def _reply_callback(
        self, caller: str, corr: int, push: bool = False
    ) -> Callable[[asyncio.Future[Message]], None]:
        if push:
            transport = self.transport

            def pushed(fut: asyncio.Future[Message]) -> None:
                reply = reply_of(corr, fut)
                if reply is not None:
                    transport.push_reply(caller, reply)

            return pushed
        replies = self.replies

        def done(fut: asyncio.Future[Message]) -> None:
            replies.put(caller, corr, fut)

        return done

    async def _forward(
        self,
        env: wire_pb.Envelope,
        target: ActorAddress,
        message: Message,
        sender: ActorAddress | None,
        push: bool = False,
    ) -> None:
        if env.correlation_id == 0:
            try:
                await self.route_tell(target, message, sender, env.hops + 1)
            except FabricError as exc:
                log.info("forwarded tell to a %s actor failed: %s", target.kind, exc.error_id)
            return
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(self._reply_callback(env.reply_to, env.correlation_id, push))
        try:
            deadline = env.deadline or time.time() + self.settings.ask_timeout_s
            fut.set_result(await self.route_ask(target, message, sender, deadline,
                                                env.hops + 1))
        except FabricError as exc:
            fut.set_exception(exc)

    def _reroute(self, address: ActorAddress, item: Item) -> None:
        """Items queued behind a deactivation: re-activate here or forward to the owner."""
        assert item.message is not None
        if self.owns(address):
            assert self.host is not None
            try:
                self.host.enqueue(address, item)
            except FabricError as exc:
                if item.reply is not None and not item.reply.done():
                    item.reply.set_exception(exc)
            return
        self._spawn(self._reroute_remote(address, item))

    async def _reroute_remote(self, address: ActorAddress, item: Item) -> None:
        assert item.message is not None
        try:
            if item.reply is None:
                await self.route_tell(address, item.message, item.sender, 1)
                return
            deadline = item.deadline or time.time() + self.settings.ask_timeout_s
            result = await self.route_ask(address, item.message, item.sender, deadline, 1)
            if not item.reply.done():
                item.reply.set_result(result)
        except FabricError as exc:
            if item.reply is not None and not item.reply.done():
                item.reply.set_exception(exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop transport work and close endpoints."""
        self.endpoints.close_all()
        await self.transport.close()
        for task in list(self._tasks):
            task.cancel()

"""Cross-process messaging: batched outboxes, pushed or polled replies, reply slots.

N messages never cost N Ray calls:

- **Outbox** (sender side, one per destination host): envelopes queue while a delivery is
  in flight and leave together as one ``EnvelopeBatch`` in one ``deliver`` Ray call. At
  most one delivery per destination is in flight, which (a) batches naturally under load
  (the batch grows while the previous one travels) and (b) keeps the order of messages from
  one process to one actor, which Ray does not promise for async actors. ``deliver`` only
  *enqueues* and answers at once with a ``BatchAck`` naming refused envelopes (full
  mailbox, unknown kind), so a ``tell`` learns ``ResourceExhausted`` without waiting for
  the handler.
- **Replies** (ask answers) to a caller that is itself a host process (``push_replies``:
  it can take Ray calls) are *pushed*: they join the answering process's outbox to the
  caller and travel in the next ``deliver`` batch, together with the tells going that way
  (a call actor's answer and its events to a gateway share one Ray call). A caller that
  cannot take Ray calls (the driver) gets its answers from a per-caller slot on the
  answering host through a long poll (``poll_replies``), all ready answers in one call.
  Both kinds of caller keep one long poll per destination while asks are pending there;
  for a pushed-to caller it only returns on timeout (one cheap Ray call per ``poll_wait_s``)
  and serves as the liveness and incarnation check below.
- **Handles**: the Ray actor handle of each destination is looked up by name once and kept
  (a by-name lookup costs a GCS round trip, ~0.5 ms); it is dropped when a call to it fails
  or the host leaves the membership or changes incarnation (:meth:`Transport.forget`).
- **Failure**: a Ray error on ``deliver`` or ``poll_replies`` (the host process or its node
  died) fails every waiting ask to that host with ``Unavailable`` at once, and the caller
  reports the host to the membership registry. Every reply batch names the host's
  *incarnation*; asks acknowledged by an earlier incarnation (Ray restarted the host in
  between) also fail with ``Unavailable``. And every ask has a deadline. So an ask never
  hangs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message
from ray.exceptions import RayError

from fabric._runtime import wire
from fabric.errors import DeadlineExceeded, FabricError, InvalidArgument, Unavailable
from fabric.wire.v1 import envelope_pb2 as wire_pb

log = logging.getLogger(__name__)


class _Outbox:
    __slots__ = ("items", "replies", "flushing")

    def __init__(self) -> None:
        self.items: list[tuple[wire_pb.Envelope, asyncio.Future[str]]] = []
        self.replies: list[wire_pb.Reply] = []
        self.flushing = False


class _Pending:
    __slots__ = ("future", "incarnation")

    def __init__(self, future: asyncio.Future[Message]) -> None:
        self.future = future
        self.incarnation: str | None = None


def host_unavailable(host_id: str, why: str) -> Unavailable:
    """The retryable error of a message whose host is gone."""
    return Unavailable(
        f"actor host {host_id} is unavailable ({why}); retry: its actors re-activate on a "
        "live host",
        error_id="actor-host-unavailable",
    )


class Transport:
    """The sending side of one process: outboxes and reply pollers per destination."""

    def __init__(
        self,
        process_id: str,
        handle: Callable[[str], Any],
        on_failure: Callable[[str], None],
        poll_wait_s: float = 1.0,
        *,
        push_replies: bool = False,
        incarnation: str = "",
    ) -> None:
        self.process_id = process_id
        self._lookup = handle
        self._handles: dict[str, Any] = {}
        self._on_failure = on_failure
        self._poll_wait_s = poll_wait_s
        self.push_replies = push_replies
        self.incarnation = incarnation
        self._outboxes: dict[str, _Outbox] = {}
        self._pending: dict[str, dict[int, _Pending]] = {}
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._flushers: set[asyncio.Task[None]] = set()
        # ids start from the clock: a restarted process under the same name must not reuse
        # the ids of answers still travelling to its previous life
        self._ids = itertools.count(time.time_ns())
        self.batches_sent = 0
        self.envelopes_sent = 0

    async def tell(self, dest: str, env: wire_pb.Envelope) -> None:
        """Deliver ``env`` to host ``dest``; raise what the receiver refused it with."""
        await self._send(dest, env)

    def post(self, dest: str, env: wire_pb.Envelope) -> asyncio.Future[str]:
        """Queue ``env`` for ``dest`` without waiting; the future says how it went."""
        return self._enqueue(dest, env)

    async def ask(self, dest: str, env: wire_pb.Envelope, timeout: float) -> Message:
        """Deliver ``env`` as an ask and wait for the answer until ``timeout``."""
        loop = asyncio.get_running_loop()
        corr = next(self._ids)
        env.correlation_id = corr
        env.reply_to = self.process_id
        pending = _Pending(loop.create_future())
        slots = self._pending.setdefault(dest, {})
        slots[corr] = pending
        try:
            async with asyncio.timeout(timeout):  # no extra task per ask
                pending.incarnation = await self._enqueue(dest, env)
                if not pending.future.done():
                    self._ensure_poller(dest)
                return await pending.future
        except TimeoutError:
            raise DeadlineExceeded(
                f"no answer from a {env.target.kind} actor within {timeout:g} s",
                error_id="actor-ask-timeout",
            ) from None
        finally:
            slots.pop(corr, None)
            if not pending.future.done():
                pending.future.cancel()
            elif not pending.future.cancelled():
                pending.future.exception()  # mark retrieved: the caller saw another error

    def fail_host(self, dest: str, error: FabricError) -> None:
        """Fail every ask waiting on ``dest`` (it left the membership or died)."""
        self.forget(dest)
        for pending in list(self._pending.get(dest, {}).values()):
            if not pending.future.done():
                pending.future.set_exception(error)

    def host_restarted(self, dest: str, incarnation: str) -> None:
        """``dest`` now runs as ``incarnation``: asks acknowledged by another life are lost."""
        self.forget(dest)
        slots = self._pending.get(dest)
        if slots:
            self._fail_other_lives(dest, slots, incarnation)

    def forget(self, dest: str) -> None:
        """Drop the cached Ray handle of ``dest`` (looked up again on next use)."""
        self._handles.pop(dest, None)

    def handle(self, dest: str) -> Any:
        """The Ray actor handle of host ``dest`` (looked up by name once, then cached)."""
        h = self._handles.get(dest)
        if h is None:
            h = self._handles[dest] = self._lookup(dest)
        return h

    def push_reply(self, caller: str, reply: wire_pb.Reply) -> None:
        """Send an ask's answer to ``caller`` with the next batch going there."""
        box = self._outboxes.get(caller)
        if box is None:
            box = self._outboxes[caller] = _Outbox()
        box.replies.append(reply)
        self._start_flush(caller, box)

    def take_replies(self, sender: str, raw: bytes) -> None:
        """Answers pushed by host ``sender`` (a ``ReplyBatch``): resolve the waiting asks."""
        try:
            batch = wire_pb.ReplyBatch.FromString(raw)
        except Exception:  # noqa: BLE001 - malformed: dropped; the asks time out
            log.debug("malformed reply batch from %s dropped", sender)
            return
        slots = self._pending.get(sender)
        if slots:
            self._resolve(sender, slots, batch)

    async def close(self) -> None:
        """Stop pollers and flushers."""
        tasks = list(self._pollers.values()) + list(self._flushers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for dest in list(self._pending):
            self.fail_host(dest, host_unavailable(dest, "caller closing"))

    # -- outbox ----------------------------------------------------------------------------

    async def _send(self, dest: str, env: wire_pb.Envelope) -> str:
        return await self._enqueue(dest, env)

    def _enqueue(self, dest: str, env: wire_pb.Envelope) -> asyncio.Future[str]:
        """Queue ``env``; the future answers the receiver's incarnation or its refusal."""
        box = self._outboxes.get(dest)
        if box is None:
            box = self._outboxes[dest] = _Outbox()
        ack: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        box.items.append((env, ack))
        self._start_flush(dest, box)
        return ack

    def _start_flush(self, dest: str, box: _Outbox) -> None:
        if not box.flushing:
            box.flushing = True
            task = asyncio.get_running_loop().create_task(self._flush(dest, box))
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)

    async def _flush(self, dest: str, box: _Outbox) -> None:
        try:
            while box.items or box.replies:
                items, box.items = box.items, []
                replies, box.replies = box.replies, []
                batch = wire_pb.EnvelopeBatch()
                batch.envelopes.extend(env for env, _ in items)
                reply_raw = b""
                if replies:
                    rb = wire_pb.ReplyBatch(incarnation=self.incarnation)
                    rb.replies.extend(replies)
                    reply_raw = rb.SerializeToString()
                try:
                    raw = await self.handle(dest).deliver.remote(
                        batch.SerializeToString(), reply_raw, self.process_id,
                        self.push_replies,
                    )
                    ack = wire_pb.BatchAck.FromString(raw)
                except (RayError, ValueError) as exc:
                    self.forget(dest)
                    error = host_unavailable(dest, type(exc).__name__)
                    for _, fut in items:
                        if not fut.done():
                            fut.set_exception(error)
                    self._on_failure(dest)
                    continue
                self.batches_sent += 1
                self.envelopes_sent += len(items)
                rejected = {r.index: r.error for r in ack.rejections}
                for i, (_, fut) in enumerate(items):
                    if fut.done():
                        continue
                    if i in rejected:
                        fut.set_exception(wire.error_from_wire(rejected[i]))
                    else:
                        fut.set_result(ack.incarnation)
        finally:
            box.flushing = False

    # -- replies ---------------------------------------------------------------------------

    def _ensure_poller(self, dest: str) -> None:
        if dest not in self._pollers:
            task = asyncio.get_running_loop().create_task(self._poll(dest))
            self._pollers[dest] = task

    async def _poll(self, dest: str) -> None:
        slots = self._pending.setdefault(dest, {})
        try:
            while slots:
                try:
                    raw = await self.handle(dest).poll_replies.remote(
                        self.process_id, self._poll_wait_s
                    )
                    batch = wire_pb.ReplyBatch.FromString(raw)
                except (RayError, ValueError) as exc:
                    self.fail_host(dest, host_unavailable(dest, type(exc).__name__))
                    self._on_failure(dest)
                    return
                self._resolve(dest, slots, batch)
        finally:
            self._pollers.pop(dest, None)

    def _resolve(self, dest: str, slots: dict[int, _Pending], batch: wire_pb.ReplyBatch) -> None:
        for reply in batch.replies:
            pending = slots.get(reply.correlation_id)
            if pending is None or pending.future.done():
                continue
            if reply.HasField("error"):
                pending.future.set_exception(wire.error_from_wire(reply.error))
                continue
            try:
                pending.future.set_result(wire.unpack(reply.payload))
            except InvalidArgument as exc:
                pending.future.set_exception(exc)
        self._fail_other_lives(dest, slots, batch.incarnation)

    @staticmethod
    def _fail_other_lives(dest: str, slots: dict[int, _Pending], incarnation: str) -> None:
        lost: Unavailable | None = None
        for pending in list(slots.values()):
            inc = pending.incarnation
            if inc is not None and inc != incarnation and not pending.future.done():
                lost = lost or host_unavailable(dest, "host restarted; the ask was lost")
                pending.future.set_exception(lost)


def reply_of(correlation_id: int, fut: asyncio.Future[Message]) -> wire_pb.Reply | None:
    """The wire answer of a finished ask (None if it was cancelled)."""
    if fut.cancelled():
        return None
    reply = wire_pb.Reply(correlation_id=correlation_id)
    exc = fut.exception()
    if exc is not None:
        wire.error_to_wire(exc, reply.error)
    else:
        reply.payload.Pack(fut.result())
    return reply


class _Slot:
    __slots__ = ("replies", "event", "last_poll")

    def __init__(self, now: float) -> None:
        self.replies: list[wire_pb.Reply] = []
        self.event = asyncio.Event()
        self.last_poll = now


class ReplySlots:
    """Answers to remote asks, waiting on the answering host for their caller's poll."""

    def __init__(self, incarnation: str) -> None:
        self.incarnation = incarnation
        self._slots: dict[str, _Slot] = {}

    def put(self, caller: str, correlation_id: int, fut: asyncio.Future[Message]) -> None:
        """Store the outcome of an ask's future (use as its done callback)."""
        reply = reply_of(correlation_id, fut)
        if reply is not None:
            self.put_reply(caller, reply)

    def put_reply(self, caller: str, reply: wire_pb.Reply) -> None:
        """Store an answer until ``caller`` polls."""
        slot = self._slots.get(caller)
        if slot is None:
            slot = self._slots[caller] = _Slot(time.monotonic())
        slot.replies.append(reply)
        slot.event.set()

    async def poll(self, caller: str, wait_s: float) -> bytes:
        """Everything ready for ``caller``; wait up to ``wait_s`` if nothing is."""
        slot = self._slots.get(caller)
        if slot is None:
            slot = self._slots[caller] = _Slot(time.monotonic())
        slot.last_poll = time.monotonic()
        if not slot.replies:
            slot.event.clear()
            try:
                await asyncio.wait_for(slot.event.wait(), wait_s)
            except TimeoutError:
                pass
        replies, slot.replies = slot.replies, []
        slot.last_poll = time.monotonic()
        batch = wire_pb.ReplyBatch(incarnation=self.incarnation)
        batch.replies.extend(replies)
        return batch.SerializeToString()

    def collect_garbage(self, max_age_s: float) -> int:
        """Drop slots of callers that stopped polling (they died); return how many."""
        now = time.monotonic()
        stale = [c for c, s in self._slots.items() if now - s.last_poll > max_age_s]
        for caller in stale:
            del self._slots[caller]
        return len(stale)

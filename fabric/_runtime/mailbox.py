"""Mailbox items and the bounded per-actor mailbox.

A mailbox is a plain ``deque`` with a capacity check, not an ``asyncio.Queue`` plus a task
per actor: an idle resident actor must cost a few KB, so no task or future exists for it
while its mailbox is empty. The host starts one drain task per *busy* activation.

A full mailbox refuses the new message with ``ResourceExhausted`` at once; nothing is
dropped silently. Control items (reminders, deactivation) bypass the bound: they are
produced by the runtime itself, at most a few per actor.
"""

from __future__ import annotations

import asyncio
from collections import deque

from google.protobuf.message import Message

from fabric.actor import ActorAddress, DeactivationReason
from fabric.errors import ResourceExhausted


class Item:
    """One unit of work for an actor: a message, a due reminder, or a deactivation."""

    __slots__ = ("message", "sender", "reply", "deadline", "reminder", "stop")

    def __init__(
        self,
        message: Message | None,
        sender: ActorAddress | None = None,
        reply: asyncio.Future[Message] | None = None,
        deadline: float = 0.0,
        reminder: str | None = None,
        stop: DeactivationReason | None = None,
    ) -> None:
        self.message = message
        self.sender = sender
        self.reply = reply
        self.deadline = deadline
        self.reminder = reminder
        self.stop = stop

    @property
    def is_control(self) -> bool:
        """True for runtime-made items (reminder, deactivation)."""
        return self.message is None


class Mailbox:
    """A bounded FIFO of items for one activation."""

    __slots__ = ("_items", "_capacity")

    def __init__(self, capacity: int) -> None:
        self._items: deque[Item] = deque()
        self._capacity = capacity

    def put(self, item: Item, address: ActorAddress) -> None:
        """Append ``item``; ``ResourceExhausted`` if the mailbox holds ``capacity`` messages."""
        if not item.is_control and len(self._items) >= self._capacity:
            raise ResourceExhausted(
                f"mailbox of {address.kind} actor is full ({self._capacity} messages); "
                "retry later or raise runtime.mailbox_capacity",
                error_id="actor-mailbox-full",
            )
        self._items.append(item)

    def push_front(self, item: Item) -> None:
        """Put a control item ahead of everything queued."""
        self._items.appendleft(item)

    def take(self) -> Item:
        """Remove and return the oldest item (the mailbox must not be empty)."""
        return self._items.popleft()

    def drain_all(self) -> list[Item]:
        """Remove and return every queued item, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

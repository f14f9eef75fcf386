"""Typed actors: @handler methods collected per message type, typed asks, ctx.clock."""

from __future__ import annotations

from typing import NewType

import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.wrappers_pb2 import DoubleValue, Int64Value, StringValue

from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.errors import Internal, InvalidArgument
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock

Name = NewType("Name", str)


class Base(VirtualActor[Name]):
    """A base with one handler, inherited by Greeter."""

    kind = "base"

    @handler
    async def on_count(self, msg: Int64Value) -> Int64Value:
        """Double the number."""
        return Int64Value(value=msg.value * 2)


class Clocked:
    """A mixin with a handler (not a VirtualActor itself)."""

    ctx: object

    @handler
    async def on_time(self, msg: Empty) -> DoubleValue:
        """The actor's clock."""
        return DoubleValue(value=self.ctx.clock.now())  # type: ignore[attr-defined]


class Greeter(Clocked, Base):
    """Handlers of its own, of its base and of a mixin."""

    kind = "greeter"

    @handler
    async def on_greet(self, msg: StringValue) -> StringValue:
        """Greet by the actor's key."""
        key: Name = self.key
        return StringValue(value=f"{msg.value}, {key}")


def test_handlers_are_collected_from_the_class_its_bases_and_mixins() -> None:
    assert set(Greeter.handlers) == {Int64Value, StringValue, Empty}
    assert set(Base.handlers) == {Int64Value}


def test_two_handlers_for_one_message_type_are_refused() -> None:
    with pytest.raises(TypeError, match="two handlers"):

        class Twice(VirtualActor[str]):
            kind = "twice"

            @handler
            async def a(self, msg: Empty) -> None:
                """One."""

            @handler
            async def b(self, msg: Empty) -> None:
                """Two."""


def test_a_handler_must_take_one_protobuf_message() -> None:
    with pytest.raises(TypeError, match="protobuf message class"):

        class Bad(VirtualActor[str]):
            kind = "bad"

            @handler
            async def a(self, msg: int) -> None:
                """Not a message."""


async def test_dispatch_typed_reply_and_clock() -> None:
    clock = ManualClock(start=1000.0)
    async with LocalActorSystem([Greeter], clock=clock, background=False) as system:
        ref = system.ref(ActorAddress("greeter", "ada"))
        greeting = await ref.ask(StringValue(value="hello"), reply=StringValue)
        assert greeting.value == "hello, ada"
        assert (await ref.ask(Int64Value(value=21), reply=Int64Value)).value == 42
        await clock.advance(5)
        assert (await ref.ask(Empty(), reply=DoubleValue)).value == 1005.0
        with pytest.raises(Internal) as wrong:  # the answer is not the declared reply type
            await ref.ask(Int64Value(value=1), reply=StringValue)
        assert wrong.value.error_id == "actor-reply-type"
        with pytest.raises(InvalidArgument) as unknown:  # no handler for this type
            await ref.ask(DoubleValue(value=1.0))
        assert unknown.value.error_id == "unknown-message"

"""Encoding of envelopes, replies and errors for messages that leave the process.

Payloads travel as ``google.protobuf.Any``; the receiver finds the message class in the
default descriptor pool, so the module that defines a message type must be imported in
every process that receives it (actor modules import their own ``*_pb2``). An unknown type
or a malformed payload is refused with ``InvalidArgument`` and counted, never raised into
the receiving loop. Errors cross as (class name, error id, message) and are rebuilt as the
same ``fabric.errors`` class.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from fabric import errors
from fabric.actor import ActorAddress
from fabric.wire.v1 import envelope_pb2 as wire_pb


def pack(message: Message) -> any_pb2.Any:
    """Wrap a message in ``Any``."""
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


_classes: dict[str, type[Message]] = {}


def message_class(name: str) -> type[Message]:
    """The class of the message type ``name`` (cached); ``InvalidArgument`` if unknown."""
    cls = _classes.get(name)
    if cls is None:
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
        except KeyError:
            raise errors.InvalidArgument(
                f"message type {name!r} is not known in this process; import its *_pb2 "
                "module in the actor or service module",
                error_id="wire-unknown-type",
            ) from None
        cls = _classes[name] = message_factory.GetMessageClass(descriptor)
    return cls


def unpack(packed: any_pb2.Any) -> Message:
    """The message inside ``Any``; ``InvalidArgument`` if its type is unknown or bad."""
    name = packed.type_url.rpartition("/")[2]
    message = message_class(name)()
    try:
        message.ParseFromString(packed.value)
    except DecodeError:
        raise errors.InvalidArgument(
            f"payload does not parse as {name}", error_id="wire-malformed"
        ) from None
    return message


def address_to_wire(address: ActorAddress, out: wire_pb.Address) -> None:
    """Copy an address into its wire form."""
    out.kind = address.kind
    out.key = address.key


def address_from_wire(addr: wire_pb.Address) -> ActorAddress:
    """Rebuild an address."""
    return ActorAddress(addr.kind, addr.key)


def envelope(
    target: ActorAddress,
    message: Message,
    *,
    sender: ActorAddress | None = None,
    correlation_id: int = 0,
    deadline: float = 0.0,
    reply_to: str = "",
    hops: int = 0,
) -> wire_pb.Envelope:
    """Build an envelope."""
    env = wire_pb.Envelope(
        correlation_id=correlation_id, deadline=deadline, reply_to=reply_to, hops=hops
    )
    address_to_wire(target, env.target)
    if sender is not None:
        address_to_wire(sender, env.sender)
    env.payload.Pack(message)
    return env


def error_to_wire(exc: BaseException, out: wire_pb.Error) -> None:
    """Describe an error; anything that is not a ``FabricError`` becomes ``Internal``."""
    if isinstance(exc, errors.FabricError):
        out.error_class = type(exc).__name__
        out.error_id = exc.error_id
        out.message = exc.message
    else:
        out.error_class = "Internal"
        out.error_id = "internal"
        out.message = f"unexpected {type(exc).__name__}"


def error_from_wire(err: wire_pb.Error) -> errors.FabricError:
    """Rebuild the ``FabricError`` subclass named on the wire (``Internal`` if unknown)."""
    cls = getattr(errors, err.error_class, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.FabricError)):
        cls = errors.Internal
    return cls(err.message, error_id=err.error_id or None)

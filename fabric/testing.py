"""What tests use of the runtime: the manual clock, probe actors and in-host drivers.

- :class:`ManualClock`: the clock tests give an actor system (``LocalActorSystem(clock=...)``)
  and advance by hand, so no test sleeps to let time pass.
- :func:`eventually` (and :func:`eventually_sync`): wait until a condition holds, with a
  timeout that fails loudly; tests use it instead of fixed sleeps and polling loops.
- :func:`number_shaped_labels`: metric label values that look like a phone number or an
  extension (privacy: none may appear in labels).

They live in the package (like Orleans' test cluster kit) because host processes import
actor types by "module:attr" and cannot import test files. Messages are protobuf
well-known types, so no generated code is needed:

- ``Probe`` (kind ``probe``): ``Int64Value(n)`` adds n to a persisted total and answers it;
  ``Empty`` answers the state; ``StringValue("seq:<tag>:<n>")`` checks per-sender order;
  ``StringValue("remind:<seconds>")`` sets a durable reminder; reminders count in state;
  ``StringValue("sleep:<seconds>")`` holds the turn (an ask in flight during a failure;
  :func:`sleeping_turns` counts such turns in a host);
  ``StringValue("notify:<endpoint key>")`` tells the endpoint the total;
  ``StringValue("fail:<error id>")`` raises ``NotFound``; ``"crash:"`` raises RuntimeError.
- ``Echo`` (kind ``echo``): answers the message (``Empty``, ``Int64Value``, ``StringValue``);
  no state (pure runtime cost).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from fabric.actor import ENDPOINT_KIND, ActorAddress, VirtualActor, handler
from fabric.clock import ManualClock as ManualClock
from fabric.errors import FabricError, NotFound

_sleeping = 0  # Probe turns held by "sleep:" in this process (see sleeping_turns)


def _num(state: Struct, name: str) -> int:
    value = state.fields.get(name)
    return int(value.number_value) if value is not None else 0


class Probe(VirtualActor[str]):
    """Persisted counter with order checks and reminders."""

    kind = "probe"

    async def on_activate(self) -> None:
        """Load the persisted state."""
        loaded = await self.ctx.load_state(Struct)
        self.state = loaded if loaded is not None else Struct()
        self.last: dict[str, int] = {}
        self.violations = 0

    @handler
    async def on_add(self, msg: Int64Value) -> Int64Value:
        """Add ``msg.value`` to the persisted total; answer the new total."""
        self.state["total"] = _num(self.state, "total") + msg.value
        self.state["writes"] = _num(self.state, "writes") + 1
        await self.ctx.save_state(self.state)
        return Int64Value(value=_num(self.state, "total"))

    @handler
    async def on_state(self, msg: Empty) -> Struct:
        """Answer the persisted state."""
        return self.state

    @handler
    async def on_verb(self, msg: StringValue) -> Message | None:
        """``<verb>:<argument>`` commands (see the module docstring)."""
        verb, _, rest = msg.value.partition(":")
        if verb == "seq":
            tag, _, n = rest.partition(":")
            expected = self.last.get(tag, -1) + 1
            if int(n) != expected:
                self.violations += 1
            self.last[tag] = int(n)
            return None
        if verb == "remind":
            await self.ctx.set_reminder("r", float(rest))
            return None
        if verb == "notify":  # tell an endpoint (e.g. in a gateway) our total
            await self.ctx.system.ref(ActorAddress(ENDPOINT_KIND, rest)).tell(
                Int64Value(value=_num(self.state, "total")))
            return None
        if verb == "fail":  # a handler's FabricError answers the ask
            raise NotFound("probe refuses", error_id=rest or "probe-refused")
        if verb == "crash":  # anything else is an Internal error and a restart
            raise RuntimeError("probe crashed")
        if verb == "sleep":
            global _sleeping
            _sleeping += 1
            try:
                await asyncio.sleep(float(rest))
            finally:
                _sleeping -= 1
            return None
        if verb == "violations":
            return Int64Value(value=self.violations)
        if verb == "seen":
            return Int64Value(value=sum(n + 1 for n in self.last.values()))
        return self.state

    async def on_reminder(self, name: str) -> None:
        """Count fired reminders in the persisted state."""
        self.state["fired"] = _num(self.state, "fired") + 1
        await self.ctx.save_state(self.state)


class Echo(VirtualActor[str]):
    """Answers what it gets (``Empty``, ``Int64Value`` or ``StringValue``)."""

    kind = "echo"

    @handler
    async def on_empty(self, msg: Empty) -> Empty:
        """Echo."""
        return msg

    @handler
    async def on_int(self, msg: Int64Value) -> Int64Value:
        """Echo."""
        return msg

    @handler
    async def on_string(self, msg: StringValue) -> StringValue:
        """Echo."""
        return msg


# -- functions run inside a host with RayActorSystem.run_on_host ---------------------------


def owned_keys(runtime: Any, kind: str, count: int, *, local: bool, prefix: str = "k") -> list[str]:
    """``count`` keys of ``kind`` owned (``local``) or not owned by this host."""
    keys: list[str] = []
    i = 0
    while len(keys) < count:
        key = f"{prefix}{i}"
        i += 1
        if runtime.owns(ActorAddress(kind, key)) == local:
            keys.append(key)
    return keys


async def ask_rate(
    runtime: Any, kind: str, keys: list[str], total: int, concurrency: int
) -> dict[str, Any]:
    """Ask ``total`` Empty messages round-robin over ``keys`` with ``concurrency`` workers."""
    refs = [runtime.ref(ActorAddress(kind, k)) for k in keys]
    msg = Empty()
    for ref in refs:  # activate first
        await ref.ask(msg, 30)
    errors = 0
    per_worker = total // concurrency

    async def worker(w: int) -> None:
        nonlocal errors
        for i in range(per_worker):
            try:
                await refs[(w + i * concurrency) % len(refs)].ask(msg, 30)
            except FabricError:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"asks": per_worker * concurrency, "seconds": elapsed, "errors": errors,
            "batches": runtime.transport.batches_sent}


async def send_sequence(runtime: Any, kind: str, keys: list[str], tag: str, count: int) -> int:
    """Tell ``seq:<tag>:<n>`` for n in 0..count-1 to every key; return tells refused."""
    refused = 0

    async def one(key: str, n: int) -> None:
        nonlocal refused
        try:
            await runtime.ref(ActorAddress(kind, key)).tell(StringValue(value=f"seq:{tag}:{n}"))
        except FabricError:
            refused += 1

    for n in range(count):  # a round's tells are in flight together, rounds in order
        await asyncio.gather(*(one(key, n) for key in keys))
    return refused


async def sleeping_turns(runtime: Any) -> int:
    """Probe turns held by ``sleep:`` in this host right now (asks in flight, for a test)."""
    return _sleeping


async def resident_count(runtime: Any) -> int:
    """Activations resident on this host."""
    return len(runtime.host) if runtime.host is not None else 0


async def activate_local(runtime: Any, kind: str, count: int, prefix: str) -> dict[str, Any]:
    """Activate ``count`` local actors with one tell each; measure time and memory."""
    import gc
    import os

    import psutil

    host = runtime.host
    keys = owned_keys(runtime, kind, count, local=True, prefix=prefix)
    gc.collect()
    rss0 = psutil.Process(os.getpid()).memory_info().rss
    before = len(host)
    started = time.perf_counter()
    msg = Empty()
    for key in keys:
        await runtime.tell(ActorAddress(kind, key), msg)
    await host.idle()
    elapsed = time.perf_counter() - started
    gc.collect()
    rss1 = psutil.Process(os.getpid()).memory_info().rss
    return {"activated": len(host) - before, "seconds": elapsed, "rss_delta": rss1 - rss0}


async def local_keys(runtime: Any, kind: str, count: int, local: bool) -> list[str]:
    """``owned_keys`` as a host-run function."""
    return owned_keys(runtime, kind, count, local=local, prefix="lk-")


async def endpoint_roundtrip(runtime: Any, keys: list[str], timeout: float) -> int:
    """Open an endpoint here, have each probe ``notify`` it; return how many arrived."""
    endpoint = await runtime.open_endpoint()
    try:
        await asyncio.gather(*(
            runtime.ref(ActorAddress("probe", k)).ask(
                StringValue(value=f"notify:{endpoint.address.key}"))
            for k in keys))
        got = 0

        async def read() -> None:
            nonlocal got
            async for _ in endpoint:
                got += 1
                if got == len(keys):
                    return

        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            pass
        return got
    finally:
        endpoint.close()


class NullGatewayService:
    """A gateway service that does nothing (tests that gateways start and stop)."""

    stopped = False

    async def stop(self) -> None:
        """Nothing to stop."""
        NullGatewayService.stopped = True


async def start_null_gateway(system: Any, settings: Any, stores: Any) -> NullGatewayService:
    """Gateway service factory: (in-host system, settings, process stores) -> object with
    ``stop``."""
    return NullGatewayService()


# -- waiting on a condition (no fixed sleeps in tests) -------------------------------------

T = TypeVar("T")


def _describe(what: str, last: object) -> str:
    name = what or "the condition"
    if isinstance(last, BaseException):
        return f"{name} did not hold: {type(last).__name__}: {last}"
    return f"{name} did not hold (last value: {last!r})"


async def eventually(
    condition: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.02,
    *,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``condition`` until it returns a truthy value; return that value.

    ``condition`` is a plain or an async function. An ``AssertionError`` it raises (or one
    of ``retry_on``, e.g. ``Unavailable`` during a failover) means "not yet". After
    ``timeout`` seconds of real time (the event loop's clock, not a test's manual clock) it
    fails with an ``AssertionError`` naming ``what`` and the last value or error, so a test
    that waits never falls through silently. ``timeout`` is a bound for a loaded machine,
    not a speed claim: a condition that holds returns at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    not_yet: tuple[type[BaseException], ...] = (AssertionError, *retry_on)
    last: object = None
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return cast(T, result)
            last = result
        except not_yet as exc:
            last = exc
        if loop.time() >= deadline:
            raise AssertionError(f"after {timeout:g} s, {_describe(what, last)}") from (
                last if isinstance(last, BaseException) else None)
        await asyncio.sleep(interval)


def eventually_sync(
    condition: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`eventually` for code without an event loop (sync fixtures, threads)."""
    deadline = time.monotonic() + timeout
    not_yet: tuple[type[BaseException], ...] = (AssertionError, *retry_on)
    last: object = None
    while True:
        try:
            result = condition()
            if result:
                return result
            last = result
        except not_yet as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {timeout:g} s, {_describe(what, last)}") from (
                last if isinstance(last, BaseException) else None)
        time.sleep(interval)


# -- privacy of metrics --------------------------------------------------------------------

_E164_OR_LONG = re.compile(r"\+\d{8,15}|\d{7,}")  # a phone number, anywhere in the value
_EXTENSION = re.compile(r"\d{2,8}")  # the whole value
# numbers by definition (bucket bounds, key versions) or the fabric's own generated ids
# (host ids hold 8 random hex digits, which may all be decimal): never personal
_EXEMPT_LABELS = frozenset({"le", "quantile", "version", "host", "node"})


def number_shaped_labels(exposition_text: str) -> list[tuple[str, str, str]]:
    """Label values of a Prometheus text exposition that look like a phone number or an
    extension: ``(sample, label, value)`` for each, ``[]`` when there is none.

    A phone number is ``+`` and 8-15 digits, or any run of 7 or more digits, anywhere in the
    value; an extension is a value of 2-8 digits only. Sample values (counts, ``_created``
    timestamps) are never looked at, nor labels whose values are numbers by definition or
    the fabric's own ids (``le``, ``quantile``, ``version``, ``host``, ``node``).
    """
    from prometheus_client.parser import text_string_to_metric_families

    found = []
    for family in text_string_to_metric_families(exposition_text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label in _EXEMPT_LABELS:
                    continue
                if _E164_OR_LONG.search(value) or _EXTENSION.fullmatch(value):
                    found.append((sample.name, label, value))
    return found

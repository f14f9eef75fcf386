"""The SDK softphone over a real gRPC socket: it registers again after the server goes away
and comes back, reports each change, and gives up with ``fabric-unreachable`` when the
server stays away. The server is a small in-test ``Calls`` servicer (no Ray, no store):
what is tested is the client's behaviour on a real stream that breaks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc
import pytest

from cluster.ports import free_tcp_port
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import calls_pb2_grpc
from fabric.client import FabricClient, Softphone
from fabric.client.softphone import ConnectionEvent, ConnectionState, PhoneGaveUp
from fabric.errors import FabricError


class FakeCalls(calls_pb2_grpc.CallsServicer):
    """Confirms every registration and counts them; pushes events on request."""

    def __init__(self) -> None:
        self.registrations = 0
        self.ids = itertools.count(1)
        self.streams: list[asyncio.Queue[api_calls.CallEvent | None]] = []

    async def Register(  # noqa: N802
        self,
        request_iterator: AsyncIterator[api_calls.RegisterRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[api_calls.RegisterResponse]:
        first = await anext(aiter(request_iterator))
        self.registrations += 1
        out: asyncio.Queue[api_calls.CallEvent | None] = asyncio.Queue()
        self.streams.append(out)
        yield api_calls.RegisterResponse(
            registered=api_calls.Registered(
                extension=first.register.extension, registration_id=f"r{next(self.ids)}"
            )
        )
        while (event := await out.get()) is not None:
            yield api_calls.RegisterResponse(event=event)


async def serve(port: int, servicer: FakeCalls) -> grpc.aio.Server:
    server = grpc.aio.server()
    calls_pb2_grpc.add_CallsServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def wait_for(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_registers_again_after_the_server_restarts_and_says_so() -> None:
    port = free_tcp_port()
    first = FakeCalls()
    server = await serve(port, first)
    seen: list[ConnectionEvent] = []
    client = FabricClient(f"127.0.0.1:{port}", "token")
    phone = Softphone(client, "101", backoff_s=0.05, backoff_max_s=0.3, on_connection=seen.append)
    try:
        await phone.register()
        assert phone.registration_id == "r1"
        await server.stop(grace=None)  # the fabric goes away: the stream breaks
        await wait_for(lambda: any(e.state is ConnectionState.DISCONNECTED for e in seen))
        second = FakeCalls()
        server = await serve(port, second)  # ... and comes back
        await wait_for(lambda: second.registrations == 1)
        await wait_for(lambda: any(e.state is ConnectionState.REREGISTERED for e in seen))
        assert phone.reconnects == 1
        assert not phone.gave_up
        # events flow on the new stream
        await wait_for(lambda: len(second.streams) == 1)
        await second.streams[0].put(
            api_calls.CallEvent(call_id="c1", type=api_calls.CALL_EVENT_INCOMING)
        )
        event = await phone.expect(api_calls.CALL_EVENT_INCOMING, "c1")
        assert event.call_id == "c1"
        line = next(e for e in seen if e.state is ConnectionState.REREGISTERED).describe()
        assert "101" not in line and "registered again" in line
    finally:
        await phone.close()
        await client.close()
        await server.stop(grace=None)


async def test_gives_up_with_a_clear_error_when_the_server_stays_away() -> None:
    port = free_tcp_port()
    server = await serve(port, FakeCalls())
    seen: list[ConnectionEvent] = []
    client = FabricClient(f"127.0.0.1:{port}", "token")
    phone = Softphone(
        client, "101", backoff_s=0.05, backoff_max_s=0.2, give_up_s=1.0, on_connection=seen.append
    )
    try:
        await phone.register()
        await server.stop(grace=None)
        with pytest.raises(PhoneGaveUp) as info:
            await phone.next_event(timeout_s=30.0)
        assert info.value.error_id == "fabric-unreachable"
        assert "unreachable" in info.value.message
        assert isinstance(info.value, FabricError)
        assert phone.gave_up
        assert seen[-1].state is ConnectionState.GAVE_UP
        assert seen[-1].attempts >= 1
    finally:
        await phone.close()
        await client.close()


async def test_history_is_bounded() -> None:
    port = free_tcp_port()
    fake = FakeCalls()
    server = await serve(port, fake)
    client = FabricClient(f"127.0.0.1:{port}", "token")
    phone = Softphone(client, "101", history_size=8)
    try:
        await phone.register()
        for n in range(50):
            await fake.streams[0].put(
                api_calls.CallEvent(call_id=f"c{n}", type=api_calls.CALL_EVENT_ENDED)
            )
        await phone.expect(api_calls.CALL_EVENT_ENDED, "c49")
        assert len(phone.history) == 8
        assert phone.history[-1].call_id == "c49"
    finally:
        await phone.close()
        await client.close()
        await server.stop(grace=None)

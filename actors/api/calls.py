"""Calls: the softphone's Register stream and call control.

The Register stream opens an endpoint in this gateway process and records it with the
extension in the TenantActor; CallActors ``tell`` call events to that endpoint and this
handler writes them to the stream. The registration is refreshed every
``REFRESH_S`` (the TenantActor forgets registrations after ``REGISTRATION_TTL_S``), so a
tenant actor re-activated elsewhere (after the loss of a node) learns the live softphones
again before their calls' grace runs out, and a softphone whose gateway died stops being
rung. A stream that sends nothing (no ping) for
``calls.registration_timeout_s`` is closed, which unregisters it: its phone is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from actors import validate
from actors.api.principals import caller
from actors.call import call_address
from actors.call_index import index_address
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import calls_pb2_grpc
from fabric.config import CallSettings
from fabric.errors import FabricError, InvalidArgument, NotFound
from fabric.storage.regional_state import ActorRegions

REFRESH_S = 10.0  # well inside calls.party_grace_s (see the module docstring)
MAX_LISTED = 200


class CallsServicer(calls_pb2_grpc.CallsServicer):
    """Softphone registration and call control."""

    def __init__(self, system: ActorSystem, settings: CallSettings | None = None,
                 actors: ActorRegions | None = None) -> None:
        self.system = system
        self.silence_s = (settings or CallSettings()).registration_timeout_s
        self.actors = actors  # residency: Dial records the call's region first

    # ---- registration -----------------------------------------------------------------

    async def Register(  # noqa: N802
        self,
        request_iterator: AsyncIterator[api_calls.RegisterRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[api_calls.RegisterResponse]:
        """Register one extension; stream its call events until the client closes."""
        who = caller()
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("msg") != "register":
            raise InvalidArgument(
                "the first message must be a Register with your extension",
                error_id="register-first",
            )
        extension = first.register.extension  # checked by the TenantActor (on_register)
        endpoint = await self.system.open_endpoint()
        registration_id = uuid.uuid4().hex
        register = msg_tenant.RegisterEndpoint(
            principal=who,
            extension=extension,
            registration_id=registration_id,
            endpoint=msg_common.Address(kind=endpoint.address.kind, key=endpoint.address.key),
        )
        tenant = self.system.ref(tenant_address(who.tenant_id))
        out: asyncio.Queue[api_calls.RegisterResponse | FabricError | None] = asyncio.Queue(
            maxsize=1000
        )
        tasks: list[asyncio.Task[None]] = []
        try:
            await tenant.ask(register)
            yield api_calls.RegisterResponse(
                registered=api_calls.Registered(
                    extension=extension, registration_id=registration_id
                )
            )
            tasks = [
                asyncio.create_task(self._read(request_iterator, out, self.silence_s)),
                asyncio.create_task(self._forward(endpoint, out)),
                asyncio.create_task(self._refresh(tenant, register)),
            ]
            while True:
                item = await out.get()
                if item is None:
                    return
                if isinstance(item, FabricError):
                    raise item  # the edge ends the stream with its status
                yield item
        finally:
            for task in tasks:
                task.cancel()
            endpoint.close()
            with contextlib.suppress(FabricError):
                await tenant.tell(
                    msg_tenant.UnregisterEndpoint(
                        extension=extension, registration_id=registration_id
                    )
                )

    @staticmethod
    async def _read(
        requests: AsyncIterator[api_calls.RegisterRequest],
        out: asyncio.Queue[api_calls.RegisterResponse | FabricError | None],
        silence_s: float,
    ) -> None:
        it = aiter(requests)
        try:
            while True:
                try:
                    req = await asyncio.wait_for(anext(it), silence_s)
                except (StopAsyncIteration, TimeoutError):
                    return  # closed by the client, or no ping for silence_s: the phone is gone
                if req.WhichOneof("msg") == "ping":
                    await out.put(
                        api_calls.RegisterResponse(pong=api_calls.Pong(nonce=req.ping.nonce))
                    )
        except FabricError as exc:
            await out.put(exc)  # a malformed message mid-stream: the stream ends with its error
        finally:
            await out.put(None)  # the client closed its side: end the stream

    @staticmethod
    async def _forward(
        endpoint: Any, out: asyncio.Queue[api_calls.RegisterResponse | FabricError | None]
    ) -> None:
        async for message in endpoint:
            if isinstance(message, api_calls.CallEvent):
                await out.put(api_calls.RegisterResponse(event=message))

    @staticmethod
    async def _refresh(tenant: Any, register: msg_tenant.RegisterEndpoint) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            with contextlib.suppress(FabricError):
                await tenant.ask(register)

    # ---- call control -----------------------------------------------------------------

    async def _call(self, call_id: str, **op: Any) -> api_calls.CallInfo:
        validate.call_id(call_id)
        return await self.system.ref(call_address(call_id)).ask(
            msg_call.CallOp(principal=caller(), **op), reply=api_calls.CallInfo
        )

    async def Dial(  # noqa: N802
        self, request: api_calls.DialRequest, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Place a call from one of your extensions."""
        if request.HasField("media"):
            validate.media_offer(request.media)
        call_id = uuid.uuid4().hex
        if self.actors is not None:  # the call's state goes to its tenant's region
            await self.actors.record_call(call_id, caller().tenant_id)
        start = msg_call.StartCall(
            call_id=call_id,
            principal=caller(),
            from_extension=request.from_extension,
            to=request.to,
        )
        if request.HasField("media"):
            start.media.CopyFrom(request.media)
        return await self.system.ref(call_address(call_id)).ask(start, reply=api_calls.CallInfo)

    async def Answer(  # noqa: N802
        self, request: api_calls.AnswerRequest, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Answer a call ringing on one of your extensions."""
        if request.HasField("media"):
            validate.media_offer(request.media)
        return await self._call(request.call_id, answer=request)

    async def Reject(  # noqa: N802
        self, request: api_calls.RejectRequest, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Stop a call ringing on one of your extensions."""
        return await self._call(request.call_id, reject=request)

    async def Hangup(  # noqa: N802
        self, request: api_calls.CallRef, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """End the call (cancel it while it rings)."""
        return await self._call(request.call_id, hangup=request)

    async def Hold(  # noqa: N802
        self, request: api_calls.CallRef, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Put an answered call on hold."""
        return await self._call(request.call_id, hold=request)

    async def Resume(  # noqa: N802
        self, request: api_calls.CallRef, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Take a held call off hold."""
        return await self._call(request.call_id, resume=request)

    async def Transfer(  # noqa: N802
        self, request: api_calls.TransferRequest, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """Blind transfer: you leave, the other party rings the new destination."""
        return await self._call(request.call_id, transfer=request)

    async def GetCall(  # noqa: N802
        self, request: api_calls.CallRef, context: grpc.aio.ServicerContext
    ) -> api_calls.CallInfo:
        """A call you take part in (or of your tenant, for admins)."""
        return await self._call(request.call_id, get=request)

    async def ListActiveCalls(  # noqa: N802
        self, request: api_calls.ListActiveCallsRequest, context: grpc.aio.ServicerContext
    ) -> api_calls.ListActiveCallsResponse:
        """The tenant's calls that have not ended (at most 200), from the persisted index
        and each call's own state, so the list and GetCall agree after a restart."""
        who = caller()
        index = self.system.ref(index_address(who.tenant_id))
        ids = await index.ask(msg_tenant.ListActiveCallIds(), reply=msg_tenant.ActiveCallIds)

        async def one(call_id: str) -> api_calls.CallInfo | None:
            try:
                reply = await self.system.ref(call_address(call_id)).ask(
                    msg_call.CallOp(principal=who, get=api_calls.CallRef(call_id=call_id)),
                    reply=api_calls.CallInfo,
                )
            except NotFound:  # listed, but its end was lost with a host: drop it
                with contextlib.suppress(FabricError):
                    await index.tell(msg_tenant.CallEnded(call_id=call_id))
                return None
            except FabricError:
                return None
            return reply if reply.state != api_calls.CALL_STATE_ENDED else None

        infos = await asyncio.gather(*(one(c) for c in ids.call_ids[:MAX_LISTED]))
        return api_calls.ListActiveCallsResponse(calls=[i for i in infos if i is not None])

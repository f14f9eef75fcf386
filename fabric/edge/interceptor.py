"""The one interceptor every RPC passes: authorize, run, map errors, count.

It wraps each method handler so that authorization (which may ask a TenantActor) runs
inside the RPC's task, the principal is visible to the servicer through
:func:`fabric.edge.auth.principal`, a :class:`FabricError` becomes its gRPC status (with the
error id in the details, in the ``fabric-error-id`` trailer and as a ``google.rpc.Status``
with ErrorInfo, BadRequest and RetryInfo: :mod:`fabric.edge.status`), any other exception becomes
INTERNAL with a log reference, and every request is counted by method and code.
Health and reflection are public.

Limits applied here: the caller's address is checked against the failed-credentials
backoff before anything else; a method with a rate (``rates``, e.g. Dial) takes a token from
the caller's key's bucket; a refusal is ``RESOURCE_EXHAUSTED`` with a ``retry-after``
trailer (seconds) and is counted by reason.

Audit (with an ``audit`` recorder): every authenticated RPC but call signalling writes its
audit entries here (:mod:`fabric.audit.recorder`), after the handler and before the answer
leaves (a stream: with its first message), refused ones included; a log that cannot be written
withholds the answer (``UNAVAILABLE audit-unavailable``). A stream re-checks its credentials every
``recheck_s`` (through the key cache, so a revoked key, deleted user or suspended tenant is
seen within ``api.key_cache_s`` + ``recheck_s``) and ends with ``UNAUTHENTICATED
credentials-revoked`` as soon as they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc

from fabric.audit.recorder import AuditRecorder
from fabric.edge.auth import Authorizer, Principal, current_principal
from fabric.edge.limits import RateLimiter, exhausted, peer_host, token_digest
from fabric.edge.metrics import EdgeMetrics
from fabric.edge.status import DETAILS_KEY, ERROR_ID_KEY, rich_status
from fabric.errors import FabricError, Internal, InvalidArgument, Unauthenticated

RETRY_AFTER_KEY = "retry-after"

log = logging.getLogger(__name__)

PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
REVOKED = "credentials-revoked"
REFUSAL_READ_S = 1.0
"""How long a refused stream waits for its first request before the refusal is sent."""


class _Malformed:
    """Stands for a request payload that did not parse as the method's message."""


MALFORMED = _Malformed()


def _malformed_error() -> InvalidArgument:
    return InvalidArgument(
        "the request is not a valid protobuf message for this method; send the message "
        "type the .proto declares",
        error_id="malformed-request",
    )


def _safe(deserializer: Any) -> Any:
    """A deserializer that turns a parse failure into MALFORMED instead of an INTERNAL."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # noqa: BLE001 - any parse failure is the client's bad payload
            return MALFORMED

    return parse


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if request is MALFORMED:
            raise _malformed_error()
        yield request


async def _first_request(requests: AsyncIterator[Any]) -> None:
    """Wait (at most ``REFUSAL_READ_S``) for a refused stream's first request.

    A refusal sent before the client's first write has completed makes grpcio's asyncio
    client (grpc/grpc#36066) report its failed write as ``INTERNAL: Internal error from
    Core`` instead of our status. The client writes its first request at once, so taking
    it before refusing lets that write complete first; a client that sends nothing is
    refused after the bound.
    """
    with contextlib.suppress(Exception):
        await asyncio.wait_for(anext(aiter(requests), None), REFUSAL_READ_S)


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            out[key.lower()] = value
    return out


async def abort_with(context: grpc.aio.ServicerContext, exc: FabricError) -> None:
    """End the RPC with the error's status; raises (as ``context.abort`` does)."""
    status = rich_status(exc)
    trailers: tuple[tuple[str, str | bytes], ...] = (
        (ERROR_ID_KEY, exc.error_id),
        (DETAILS_KEY, status.SerializeToString()),
    )
    retry_after = exc.details.get("retry_after_s")
    if isinstance(retry_after, int | float):
        trailers += ((RETRY_AFTER_KEY, f"{retry_after:g}"),)
    await context.abort(exc.code, status.message, trailing_metadata=trailers)


async def _internal(context: grpc.aio.ServicerContext, method: str) -> None:
    ref = uuid.uuid4().hex[:12]
    log.exception("internal error in %s (reference %s)", method, ref)
    status = rich_status(Internal(f"a bug on our side (reference {ref})"))
    await context.abort(grpc.StatusCode.INTERNAL, status.message, trailing_metadata=(
        (ERROR_ID_KEY, "internal"), (DETAILS_KEY, status.SerializeToString())))


class EdgeInterceptor(grpc.aio.ServerInterceptor):
    """Authorization, error mapping and metrics around every method."""

    def __init__(
        self,
        authorizer: Authorizer,
        metrics: EdgeMetrics,
        *,
        rates: Mapping[str, RateLimiter] | None = None,
        recheck_s: float = 2.0,
        audit: AuditRecorder | None = None,
    ) -> None:
        self.authorizer = authorizer
        self.audit = audit
        self.metrics = metrics
        self.rates = dict(rates or {})
        self.recheck_s = recheck_s

    async def _admit(
        self, method: str, context: grpc.aio.ServicerContext, seen: list[Principal]
    ) -> Any:
        """Authorize the caller and apply the method's rate; the principal (also put in
        ``seen`` as soon as it is authenticated, for the audit of a refusal)."""
        metadata = _metadata(context)
        who = await self.authorizer.authenticate(metadata, peer_host(context.peer() or ""))
        seen.append(who)
        self.authorizer.check(method, who)
        bucket = self.rates.get(method)
        if bucket is not None:
            wait = bucket.wait_s(token_digest(metadata.get("authorization", "")))
            if wait > 0:
                name = method.rpartition("/")[2]
                raise exhausted(f"rate-limited-{name.lower()}",
                                f"this key called {name} faster than {bucket.rate:g}/s", wait)
        return who

    async def _audited(self, method: str, seen: list[Principal], request: Any,
                       context: grpc.aio.ServicerContext, outcome: str, error_id: str = "",
                       *, quiet: bool = False) -> None:
        """Write the RPC's audit entries (``quiet``: a failure is logged, not raised)."""
        if self.audit is None or not seen:
            return
        try:
            await self.audit.record(method, seen[0], request, peer_host(context.peer() or ""),
                                    outcome, error_id)
        except FabricError:
            if not quiet:
                raise

    def _refused(self, exc: FabricError) -> None:
        if exc.code == grpc.StatusCode.RESOURCE_EXHAUSTED or exc.error_id == REVOKED:
            self.metrics.refused(exc.error_id)

    async def _watch(self, method: str, metadata: Mapping[str, str]) -> FabricError:
        """Re-check a stream's credentials every ``recheck_s``; the error once they fail."""
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self.authorizer.authorize(method, metadata)
            except FabricError as exc:
                if exc.retryable:
                    continue  # a dependency's hiccup is no revocation: check again later
                return Unauthenticated(
                    f"your credentials are no longer valid ({exc.error_id}); the stream ends",
                    error_id=REVOKED,
                )

    async def _guarded(
        self, responses: AsyncIterator[Any], method: str, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[Any, None]:
        """The responses of a stream until it ends or its credentials fail."""
        watchdog = asyncio.ensure_future(self._watch(method, _metadata(context)))
        it = aiter(responses)
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(it))
                await asyncio.wait((step, watchdog), return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    raise watchdog.result()
                try:
                    response = step.result()
                except StopAsyncIteration:
                    return
                yield response
        finally:
            watchdog.cancel()
            if step is not None and not step.done():
                step.cancel()  # ends the servicer's stream (its finally blocks run)
                with contextlib.suppress(BaseException):
                    await step
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wrap the method's handler (unary or streaming)."""
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(method, handler.stream_stream),
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream),
                request_deserializer=_safe(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler  # stream-unary: none in our API

    def _unary(self, method: str, inner: Any) -> Any:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
            t0 = time.perf_counter()
            code = "OK"
            seen: list[Principal] = []
            audited = False
            try:
                who = await self._admit(method, context, seen)
                if request is MALFORMED:
                    raise _malformed_error()
                token = current_principal.set(who)
                try:
                    response = await inner(request, context)
                finally:
                    current_principal.reset(token)
                audited = True
                await self._audited(method, seen, request, context, "OK")
                return response
            except FabricError as exc:
                code = exc.code.name
                self._refused(exc)
                if not audited:
                    await self._audited(method, seen, request, context, code, exc.error_id,
                                        quiet=True)
                await abort_with(context, exc)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                code = "CANCELLED" if context.cancelled() else _code_name(context)
                raise
            except Exception:
                code = "INTERNAL"
                await _internal(context, method)
            finally:
                self.metrics.observe(method, code, time.perf_counter() - t0)

        return behavior

    def _streaming(self, method: str, inner: Any) -> Any:
        async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            t0 = time.perf_counter()
            code = "OK"
            seen: list[Principal] = []
            audited = False
            try:
                try:
                    who = await self._admit(method, context, seen)
                except FabricError:
                    if hasattr(request, "__aiter__"):
                        await _first_request(request)
                    raise
                if request is MALFORMED:
                    raise _malformed_error()
                if hasattr(request, "__aiter__"):
                    request = _checked(request)
                token = current_principal.set(who)
                responses = self._guarded(inner(request, context), method, context)
                try:
                    # audited once the handler answered (its first message) or failed
                    first: list[Any] = []
                    with contextlib.suppress(StopAsyncIteration):
                        first.append(await anext(responses))
                    audited = True
                    await self._audited(method, seen, request, context, "OK")
                    for response in first:
                        yield response
                    async for response in responses:
                        yield response
                finally:
                    current_principal.reset(token)
                    await responses.aclose()
            except FabricError as exc:
                code = exc.code.name
                self._refused(exc)
                if not audited:
                    await self._audited(method, seen, request, context, code, exc.error_id,
                                        quiet=True)
                await abort_with(context, exc)
            except (asyncio.CancelledError, grpc.aio.AbortError, GeneratorExit):
                code = "CANCELLED"
                raise
            except Exception:
                code = "INTERNAL"
                await _internal(context, method)
            finally:
                self.metrics.observe(method, code, time.perf_counter() - t0)

        return behavior


def _code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"

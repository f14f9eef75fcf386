"""Harness of tests/security: a gRPC API of the fabric in this process on the in-process
actor system (no Ray, no Cassandra): the real edge (interceptor, credentials, limits) and
servicers, a real server on a loopback port, plaintext."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from actors.api.server import ApiGateway, start_api
from actors.call import CallActor
from actors.call_index import ActiveCallIndex
from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from actors.number import NumberDirectory
from actors.tenant import TenantActor
from cluster.ports import free_tcp_port
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import calls_pb2_grpc
from fabric.api.v1 import common_pb2 as api_common
from fabric.cdr import Cdr
from fabric.client import FabricClient
from fabric.client.bootstrap import create_carrier_admin
from fabric.config import (
    CallSettings,
    FabricSettings,
    LimitsSettings,
    StorageSettings,
    VaultSettings,
)
from fabric.errors import NotFound
from fabric.storage.base import CdrPage, CdrStore
from fabric.storage.factory import Stores, open_stores
from fabric.systems import LocalActorSystem


class DictCdrStore:
    """CDRs in a dict (what the Records API and the call actors need of a store)."""

    def __init__(self) -> None:
        self.rows: dict[str, Cdr] = {}

    async def write(self, cdr: Cdr) -> None:
        self.rows[cdr.call_id] = cdr

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        cdr = self.rows.get(call_id)
        if cdr is None or cdr.tenant_id != tenant_id:
            raise NotFound("no such CDR")
        return cdr

    async def query(self, tenant_id: str, *args: Any, **kwargs: Any) -> CdrPage:
        return CdrPage(records=[c for c in self.rows.values() if c.tenant_id == tenant_id],
                       next_page_token="")

    async def delete_tenant(self, tenant_id: str) -> int:
        return 0

    async def close(self) -> None:
        pass


@dataclass
class EdgeApi:
    """The running API and a client of a named carrier-admin on it (made with the
    bootstrap operator token)."""

    target: str
    gateway: ApiGateway
    operator: FabricClient
    system: LocalActorSystem

    def client(self, token: str) -> FabricClient:
        """A client on its own channel with ``token``."""
        return FabricClient(self.target, token)


EdgeApiFactory = Callable[..., Awaitable[EdgeApi]]


@contextlib.asynccontextmanager
async def edge_apis(tmp_path: Path) -> AsyncIterator[EdgeApiFactory]:
    """Start APIs with ``api.*`` overrides (``api = await start(key_cache_s=0.2)``); all are
    stopped at the end."""
    started: list[EdgeApi] = []
    opened: list[Stores] = []

    async def start(media: object | None = None, limits: dict[str, int] | None = None,
                    **api: Any) -> EdgeApi:
        port = free_tcp_port()
        settings = FabricSettings(
            api={"host": "127.0.0.1", "port": port, "tls": False,
                 "operator_token_file": tmp_path / "operator.token", **api},
            metrics={"port": 0},
            limits=limits or {},
        )
        cdrs = DictCdrStore()
        system = LocalActorSystem(
            [TenantActor, CallActor, NumberDirectory, ActiveCallIndex],
            services={CdrStore: cdrs, CallMetrics: CallMetrics(), CallSettings: settings.calls,
                      LimitsSettings: settings.limits,
                      **({CallMedia: media} if media is not None else {})},
        )
        await system.start()
        # the gateway's other stores (content, vault, audit): embedded, in this test's folder
        stores = await open_stores(
            StorageSettings(backend="embedded", data_dir=tmp_path / f"data-{port}",
                            spool_dir=tmp_path / f"spool-{port}"),
            sweep=False, vault_settings=VaultSettings(root_key_file=tmp_path / "root.key"))
        opened.append(stores)
        stores.cdr = cdrs  # type: ignore[assignment]
        gateway = await start_api(system, settings, stores)
        token = (tmp_path / "operator.token").read_text().strip()
        target = f"127.0.0.1:{gateway.port}"
        async with FabricClient(target, token) as bootstrap:  # the token: operators only
            _, carrier_admin = await create_carrier_admin(bootstrap, "edge carrier-admin")
        api_ = EdgeApi(target, gateway, FabricClient(target, carrier_admin), system)
        started.append(api_)
        return api_

    try:
        yield start
    finally:
        for api_ in started:
            await api_.operator.close()
            await api_.gateway.stop()
            await api_.system.stop()
        for stores in opened:
            await stores.close()


class FakeMedia:
    """A CallMedia that hands out relay legs with a recognisable key (no relay runs)."""

    KEY = b"relay-key-" + b"k" * 20

    def __init__(self) -> None:
        self.port = 30000

    async def open(self, call_id: str) -> None:
        pass

    async def add_leg(self, call_id: str, leg_id: str,
                      offer: api_common.MediaOffer) -> api_common.MediaAnswer | None:
        self.port += 2
        return api_common.MediaAnswer(relay_host="127.0.0.1", relay_port=self.port,
                                      suite=offer.suite, key=self.KEY)

    async def remove_leg(self, call_id: str, leg_id: str) -> None:
        pass

    async def close(self, call_id: str) -> dict[str, float]:
        return {}


class Registration:
    """One softphone's Register stream (raw gRPC) and the events it received."""

    def __init__(self, api: EdgeApi, key: str, extension: str,
                 channel: grpc.aio.Channel | None = None) -> None:
        self.own_channel = channel is None
        self.channel = channel or grpc.aio.insecure_channel(api.target)
        self.done = asyncio.Event()
        self.extension = extension
        self.call = calls_pb2_grpc.CallsStub(self.channel).Register(
            self._requests(), metadata=(("authorization", f"Bearer {key}"),))

    async def _requests(self) -> AsyncIterator[api_calls.RegisterRequest]:
        yield api_calls.RegisterRequest(register=api_calls.Register(extension=self.extension))
        await self.done.wait()

    async def registered(self) -> None:
        """Wait for the Registered answer (raises the stream's error)."""
        msg = await asyncio.wait_for(self.call.read(), 10)
        assert msg is not grpc.aio.EOF and msg.WhichOneof("msg") == "registered", msg

    async def next_event(self, kind: int) -> api_calls.CallEvent:
        """The next event of type ``kind`` (others are skipped)."""
        while True:
            msg = await asyncio.wait_for(self.call.read(), 10)
            assert msg is not grpc.aio.EOF
            if msg.WhichOneof("msg") == "event" and msg.event.type == kind:
                return msg.event

    async def close(self) -> None:
        """Close the stream and its channel."""
        self.done.set()
        self.call.cancel()
        if self.own_channel:
            await self.channel.close()


def refusals(api: EdgeApi, reason: str) -> float:
    """How many requests the API refused for ``reason`` (fabric_limit_refusals_total)."""
    registry = api.gateway.metrics.registry
    value = registry.get_sample_value("fabric_limit_refusals_total", {"reason": reason})
    return value or 0.0

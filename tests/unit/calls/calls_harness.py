"""Call-control unit test harness: LocalActorSystem helpers, fake clock, fake CDR store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from actors.call import call_address
from actors.call_metrics import CallMetrics
from actors.messages.v1 import call_pb2 as msg_call
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY
from actors.tenant import tenant_address
from fabric.api.v1 import calls_pb2 as api_calls
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Cdr
from fabric.edge.credentials import new_api_key
from fabric.errors import NotFound, Unavailable
from fabric.storage.base import CdrPage
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock


class FakeCdrStore:
    """Keeps CDRs in a dict, counts writes; can be made to fail."""

    def __init__(self) -> None:
        self.rows: dict[str, Cdr] = {}
        self.writes = 0
        self.down = False

    async def write(self, cdr: Cdr) -> None:
        if self.down:
            raise Unavailable("fake store down")
        cdr.validate()
        self.writes += 1
        self.rows[cdr.call_id] = cdr

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        cdr = self.rows.get(call_id)
        if cdr is None or cdr.tenant_id != tenant_id:
            raise NotFound("no cdr")
        return cdr

    async def query(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        number: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> CdrPage:
        rows = [
            c
            for c in self.rows.values()
            if c.tenant_id == tenant_id and start <= c.start_time < end
        ]
        return CdrPage(rows[:page_size], "")

    async def delete_tenant(self, tenant_id: str) -> int:
        return 0

    async def close(self) -> None:
        pass


@dataclass
class Phone:
    """A registered extension's event inbox."""

    system: LocalActorSystem
    principal: msg_common.Principal
    extension: str
    endpoint: object = None
    events: list[api_calls.CallEvent] = field(default_factory=list)

    async def next(self, timeout: float = 1.0) -> api_calls.CallEvent:
        msg = await asyncio.wait_for(self.endpoint.get(), timeout)  # type: ignore[attr-defined]
        assert isinstance(msg, api_calls.CallEvent)
        self.events.append(msg)
        return msg

    async def expect(self, event_type: int, timeout: float = 1.0) -> api_calls.CallEvent:
        event = await self.next(timeout)
        assert event.type == event_type, (api_calls.CallEventType.Name(event.type), event)
        return event

    def pending(self) -> int:
        return len(self.endpoint._items)  # type: ignore[attr-defined]


@dataclass
class Tenant:
    """A tenant made through the actors, with helpers."""

    system: LocalActorSystem
    tenant_id: str
    owner: msg_common.Principal

    async def admin(self, **op: object) -> object:
        return await self.system.ref(tenant_address(self.tenant_id)).ask(
            msg_tenant.AdminOp(principal=self.owner, **op)  # type: ignore[arg-type]
        )

    async def user(self, name: str, role: int = api_common.ROLE_MEMBER) -> msg_common.Principal:
        user = await self.admin(create_user=api_tenant.CreateUserRequest(name=name, role=role))
        assert isinstance(user, api_tenant.User)
        return msg_common.Principal(tenant_id=self.tenant_id, user_id=user.user_id, role=role)

    async def extension(self, number: str, user: msg_common.Principal, **kw: object) -> None:
        await self.admin(
            put_extension=api_tenant.PutExtensionRequest(
                extension=api_tenant.Extension(extension=number, user_id=user.user_id, **kw)
            )
        )  # type: ignore[arg-type]

    async def phone(self, user: msg_common.Principal, extension: str) -> Phone:
        ep = await self.system.open_endpoint()
        await self.system.ref(tenant_address(self.tenant_id)).ask(
            msg_tenant.RegisterEndpoint(
                principal=user,
                extension=extension,
                registration_id=f"r{extension}",
                endpoint=msg_common.Address(kind=ep.address.kind, key=ep.address.key),
            )
        )
        return Phone(self.system, user, extension, ep)

    async def numbers(self, count: int = 1) -> list[str]:
        got = await self.system.ref(DIRECTORY).ask(
            msg_numbers.AllocateNumbers(tenant_id=self.tenant_id, count=count)
        )
        assert isinstance(got, msg_numbers.AllocatedNumbers)
        await self.system.ref(tenant_address(self.tenant_id)).ask(
            msg_tenant.AddNumbers(numbers=got.numbers)
        )
        return list(got.numbers)


class Fabric:
    """The system plus helpers to dial and operate calls."""

    def __init__(
        self, system: LocalActorSystem, clock: ManualClock, cdrs: FakeCdrStore, metrics: CallMetrics
    ) -> None:
        self.system = system
        self.clock = clock
        self.cdrs = cdrs
        self.metrics = metrics
        self._n = 0

    async def tenant(self, name: str = "acme") -> Tenant:
        self._n += 1
        tenant_id = f"t-{self._n:04d}"
        key_id, _, digest = new_api_key(tenant_id)
        await self.system.ref(tenant_address(tenant_id)).ask(
            msg_tenant.CreateTenant(
                tenant_id=tenant_id,
                name=name,
                plan=api_carrier.PLAN_STANDARD,
                owner_name="Owner",
                owner_user_id="u-owner",
                owner_key_id=key_id,
                owner_secret_hash=digest,
            )
        )
        owner = msg_common.Principal(
            tenant_id=tenant_id, user_id="u-owner", role=api_common.ROLE_OWNER
        )
        return Tenant(self.system, tenant_id, owner)

    async def dial(
        self, who: msg_common.Principal, from_ext: str, *, ext: str = "", number: str = ""
    ) -> api_calls.CallInfo:
        self._n += 1
        call_id = f"{self._n:032x}"
        to = api_common.Destination(extension=ext) if ext else api_common.Destination(number=number)
        info = await self.system.ref(call_address(call_id)).ask(
            msg_call.StartCall(call_id=call_id, principal=who, from_extension=from_ext, to=to)
        )
        assert isinstance(info, api_calls.CallInfo)
        return info

    async def op(self, who: msg_common.Principal, call_id: str, **op: object) -> api_calls.CallInfo:
        info = await self.system.ref(call_address(call_id)).ask(
            msg_call.CallOp(principal=who, **op)
        )  # type: ignore[arg-type]
        assert isinstance(info, api_calls.CallInfo)
        return info

    async def ring_out(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await self.system.fire_due_reminders()
        await self.system.idle()

"""A tenant world for the privacy tests: real stores (SQLite files or the Cassandra node),
the tenant and privacy actors on a LocalActorSystem, a manual clock, and helpers that
make users, CDRs and content objects."""

from __future__ import annotations

import io
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.privacy import PrivacyActor, PrivacyIndex
from actors.privacy.service import PrivacyService
from actors.privacy.sources import Sources
from actors.tenant import TenantActor, tenant_address
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.cdr import Cdr, Direction, Disposition
from fabric.edge.credentials import new_api_key
from fabric.storage.factory import Stores
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock
from fabric.vault.content import ContentStore
from fabric.vault.vault import Vault

DAY = 86_400.0


def wav(seconds: float = 0.1) -> bytes:
    """A small PCM16 8 kHz mono WAV (as the voicemail recorder stores it)."""
    import struct

    data = bytes(range(256)) * int(seconds * 8000 * 2 / 256 + 1)
    data = data[: int(seconds * 8000) * 2]
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


@dataclass
class World:
    """One tenant (and the means to make others) over real stores."""

    stores: Stores
    clock: ManualClock
    system: LocalActorSystem
    service: PrivacyService
    tenant_id: str = ""
    owner: msg_common.Principal = field(default_factory=msg_common.Principal)

    @property
    def content(self) -> ContentStore:
        assert self.stores.content is not None
        return self.stores.content

    async def new_tenant(self) -> tuple[str, msg_common.Principal]:
        """Create a tenant; return its id and owner principal."""
        tenant_id = f"t-{uuid.uuid4().hex[:12]}"
        key_id, _, digest = new_api_key(tenant_id)
        await self.system.ref(tenant_address(tenant_id)).ask(msg_tenant.CreateTenant(
            tenant_id=tenant_id, name="acme", plan=api_carrier.PLAN_STANDARD,
            owner_name="Olivia Owner", owner_user_id="u-owner", owner_key_id=key_id,
            owner_secret_hash=digest,
        ))
        owner = msg_common.Principal(tenant_id=tenant_id, user_id="u-owner",
                                     role=api_common.ROLE_OWNER)
        return tenant_id, owner

    async def admin(self, **op: Any) -> Any:
        return await self.system.ref(tenant_address(self.tenant_id)).ask(
            msg_tenant.AdminOp(principal=self.owner, **op)
        )

    async def user(self, name: str, ext: str | None = None) -> str:
        """A member with (optionally) an extension; return the user id."""
        user = await self.admin(create_user=api_tenant.CreateUserRequest(name=name))
        if ext:
            await self.admin(put_extension=api_tenant.PutExtensionRequest(
                extension=api_tenant.Extension(extension=ext, user_id=user.user_id,
                                               label=f"{name}'s desk")))
        return str(user.user_id)

    async def cdr(self, a: str, b: str, minutes_ago: float = 60, tenant_id: str = "") -> Cdr:
        """Write a CDR between two numbers/extensions."""
        start = datetime.fromtimestamp(self.clock.now(), UTC) - timedelta(minutes=minutes_ago)
        cdr = Cdr(
            call_id=f"call-{uuid.uuid4().hex}", tenant_id=tenant_id or self.tenant_id,
            from_number=a, to_number=b, direction=Direction.INTERNAL, start_time=start,
            answer_time=start, end_time=start + timedelta(seconds=30), duration_s=30,
            billable_s=30, disposition=Disposition.ANSWERED, hangup_cause="normal-clearing",
        )
        await self.stores.cdr.write(cdr)
        return cdr

    async def put(self, data_class: str, object_id: str, data: bytes, **meta: str) -> None:
        await self.content.put(self.tenant_id, data_class, object_id, data, meta)

    async def export(self, subject: str = "", request_id: str = "", offset: int = 0,
                     who: msg_common.Principal | None = None,
                     ) -> tuple[bytes, api_privacy.ExportSummary, list[api_privacy.ExportEvent]]:
        """Run an export; return the zip bytes received, the summary and every event."""
        events = []
        data = bytearray()
        summary = api_privacy.ExportSummary()
        req = api_privacy.ExportRequest(subject=subject, request_id=request_id, offset=offset)
        async for ev in self.service.export(who or self.owner, req):
            events.append(ev)
            if ev.HasField("data"):
                assert ev.data.offset == offset + len(data)
                data += ev.data.chunk
            if ev.HasField("done"):
                summary = ev.done.summary
        return bytes(data), summary, events


def read_zip(data: bytes) -> zipfile.ZipFile:
    """Open exported bytes as a zip (checks the central directory)."""
    return zipfile.ZipFile(io.BytesIO(data))


async def open_world(stores: Stores, clock: ManualClock) -> World:
    """Actors over the stores, and a first tenant."""
    assert stores.content is not None and stores.vault is not None
    system = LocalActorSystem(
        [TenantActor, PrivacyActor, PrivacyIndex],
        state_store=stores.state, reminder_store=stores.reminders,
        services={ContentStore: stores.content, Vault: stores.vault},
        clock=clock, background=False,
    )
    await system.start()
    service = PrivacyService(system, Sources(stores.cdr, stores.content, stores.mdr), clock)
    world = World(stores, clock, system, service)
    world.tenant_id, world.owner = await world.new_tenant()
    return world

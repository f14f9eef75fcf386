"""Residency of actor state, claims and reminders (issue 14; fabric/storage/regional_state.py):
each actor's claim, state and reminders go to one keyspace, its tenant's region (a call's
region is recorded by Dial), the carrier's own actors to the shared keyspace; a fence used
after its actor's region changed is refused; the due scan reads every keyspace; the table
of tenant-keyed kinds agrees with the actors' own addresses. The per-keyspace stores are an
in-memory fenced store (our interface); the two-DC Cassandra test is
tests/integration/storage/test_residency_routing.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from actors.api.carrier import CarrierServicer
from actors.call import KIND as CALL_KIND
from actors.call import call_address
from actors.call_index import index_address as call_index_address
from actors.compliance.records import KIND as COMPLIANCE_KIND
from actors.mailbox import mailbox_address
from actors.number import DIRECTORY, NumberDirectory
from actors.privacy.index import INDEX as PRIVACY_INDEX
from actors.privacy.restrictions import privacy_address
from actors.recording_index import index_address as recording_index_address
from actors.recording_index import settings_address
from actors.sms.keys import KIND as SMS_CONV_KIND
from actors.sms.tenant import sms_tenant_address
from actors.tenant import TenantActor, tenant_address
from fabric.actor import ActorAddress
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.errors import FailedPrecondition
from fabric.storage.base import (
    Fence,
    FencedStateStore,
    Reminder,
    ReminderChange,
    StoredState,
)
from fabric.storage.memory import MemoryReminderStore
from fabric.storage.regional_state import (
    SHARED,
    TENANT_KEYED,
    ActorRegions,
    MemoryCallRegions,
    RegionalFencedStateStore,
    RegionalReminderStore,
    tenant_of,
)
from fabric.storage.residency import MemoryTenantRegions, TenantRegions
from fabric.systems import LocalActorSystem
from fabric.testing import ManualClock

REGIONS = ["us", "eu"]


class FakeFenced:
    """An in-memory fenced store: claims, state and reminders per (kind, key)."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], StoredState] = {}
        self.claims: dict[tuple[str, str], int] = {}
        self.reminders: dict[tuple[str, str], dict[str, float]] = {}

    async def load(self, kind: str, key: str) -> StoredState | None:
        return self.state.get((kind, key))

    async def save(self, kind: str, key: str, data: bytes, expected_version: int) -> int:
        self.state[(kind, key)] = StoredState(data, expected_version + 1)
        return expected_version + 1

    async def delete(self, kind: str, key: str) -> None:
        self.state.pop((kind, key), None)

    async def claim(self, kind: str, key: str) -> Fence:
        epoch = self.claims.get((kind, key), 0) + 1
        self.claims[(kind, key)] = epoch
        return Fence(kind, key, epoch, lease_until=1e18, fresh=epoch == 1)

    async def write(self, fence: Fence, data: bytes | None,
                    reminders: tuple[ReminderChange, ...] = ()) -> int:
        assert self.claims[(fence.kind, fence.key)] == fence.epoch  # claimed here
        version = 0 if data is None else fence.version + 1
        if data is None:
            self.state.pop((fence.kind, fence.key), None)
        else:
            self.state[(fence.kind, fence.key)] = StoredState(data, version)
        await self.change_reminders(fence.kind, fence.key, reminders)
        fence.version = version
        return version

    async def change_reminders(self, kind: str, key: str,
                               reminders: tuple[ReminderChange, ...]) -> None:
        mine = self.reminders.setdefault((kind, key), {})
        for change in reminders:
            if change.due is None:
                mine.pop(change.name, None)
            else:
                mine[change.name] = change.due

    async def reminders_of(self, kind: str, key: str) -> Mapping[str, float]:
        return dict(self.reminders.get((kind, key), {}))

    async def release(self, fence: Fence) -> None:
        fence.lease_until = 0.0

    async def close(self) -> None:
        return None


def _world() -> tuple[ActorRegions, dict[str, FakeFenced], RegionalFencedStateStore]:
    regions = ActorRegions(MemoryTenantRegions(REGIONS), MemoryCallRegions())
    fakes = {name: FakeFenced() for name in (SHARED, *REGIONS)}
    store = RegionalFencedStateStore(regions, fakes[SHARED],
                                     {r: fakes[r] for r in REGIONS})
    return regions, fakes, store


def test_tenant_keyed_kinds_match_the_actors_addresses() -> None:
    t = "t-0123456789ab"
    named: list[ActorAddress] = [
        tenant_address(t), mailbox_address(t, "101"), sms_tenant_address(t),
        ActorAddress(SMS_CONV_KIND, f"{t}|abcdef"), call_index_address(t), privacy_address(t),
        recording_index_address(t, 1_773_000_000_000), settings_address(t),
        ActorAddress(COMPLIANCE_KIND, t),
    ]
    assert {a.kind for a in named} == set(TENANT_KEYED)
    for address in named:
        assert tenant_of(address.kind, address.key) == t, address
    for carrier_level in (DIRECTORY, PRIVACY_INDEX, ActorAddress("operators", "carrier"),
                          call_address("ab" * 16)):
        assert tenant_of(carrier_level.kind, carrier_level.key) is None
    assert CALL_KIND == "call"


async def test_claim_state_and_reminders_of_an_actor_share_its_region_s_keyspace() -> None:
    regions, fakes, store = _world()
    await regions.tenants.assign("t-eu", "eu")
    fence = await store.claim("mailbox", "t-eu/101")
    assert await store.load("mailbox", "t-eu/101") is None
    await store.write(fence, b"s1", (ReminderChange("retry", 50.0, None),))
    assert fakes["eu"].state[("mailbox", "t-eu/101")].data == b"s1"
    assert fakes["eu"].claims[("mailbox", "t-eu/101")] == fence.epoch
    assert await store.reminders_of("mailbox", "t-eu/101") == {"retry": 50.0}
    assert all(("mailbox", "t-eu/101") not in fakes[n].claims for n in (SHARED, "us"))
    assert all(not fakes[n].state for n in (SHARED, "us"))
    # a tenant with no recorded region: the default region; the carrier's actors: shared
    await store.save("tenant", "t-none", b"x", 0)
    await store.save(DIRECTORY.kind, DIRECTORY.key, b"d", 0)
    assert ("tenant", "t-none") in fakes["us"].state
    assert (DIRECTORY.kind, DIRECTORY.key) in fakes[SHARED].state
    await store.release(fence)
    await store.delete("mailbox", "t-eu/101")
    assert not fakes["eu"].state


async def test_a_call_goes_where_dial_recorded_it_else_to_the_default_region() -> None:
    regions, fakes, store = _world()
    await regions.tenants.assign("t-eu", "eu")
    await regions.record_call("c" * 32, "t-eu")
    assert isinstance(regions.calls, MemoryCallRegions)
    assert regions.calls.recorded == {"c" * 32: "eu"}
    fence = await store.claim("call", "c" * 32)
    await store.write(fence, b"ringing", (ReminderChange("ring-0", 10.0, None),))
    assert ("call", "c" * 32) in fakes["eu"].state
    fresh = ActorRegions(regions.tenants, regions.calls)  # another host: reads the record
    assert await fresh.region_of("call", "c" * 32) == "eu"
    assert await fresh.region_of("call", "d" * 32) == "us"


async def test_a_fence_claimed_before_the_region_was_recorded_is_refused() -> None:
    regions, fakes, store = _world()
    fence = await store.claim("tenant", "t-late")  # default region: nothing recorded yet
    assert ("tenant", "t-late") in fakes["us"].claims
    await regions.tenants.assign("t-late", "eu")
    with pytest.raises(FailedPrecondition) as lost:
        await store.write(fence, b"state")
    assert lost.value.error_id == "state-claim-lost"
    assert not fakes["us"].state and not fakes["eu"].state  # never split
    again = await store.claim("tenant", "t-late")
    await store.write(again, b"state")
    assert ("tenant", "t-late") in fakes["eu"].state


async def test_the_due_scan_reads_every_keyspace_earliest_first() -> None:
    regions = ActorRegions(MemoryTenantRegions(REGIONS), MemoryCallRegions())
    await regions.tenants.assign("t-eu", "eu")
    mems = {name: MemoryReminderStore() for name in (SHARED, *REGIONS)}
    store = RegionalReminderStore(regions, mems[SHARED], {r: mems[r] for r in REGIONS})
    await store.upsert(Reminder("mailbox", "t-eu/1", "retry", 30.0))
    await store.upsert(Reminder("privacy", "t-us", "sweep", 20.0))
    await store.upsert(Reminder("numbers", "global", "tick", 10.0))
    assert [len(mems[n]) for n in (SHARED, "us", "eu")] == [1, 1, 1]
    due = await store.due(100.0)
    assert [r.name for r in due] == ["tick", "sweep", "retry"]
    assert [r.name for r in await store.due(100.0, limit=2)] == ["tick", "sweep"]
    await store.cancel("mailbox", "t-eu/1", "retry")
    assert len(mems["eu"]) == 0


async def test_create_tenant_records_the_region_before_the_tenant_actor_claims() -> None:
    regions, fakes, store = _world()
    assert isinstance(store, FencedStateStore)
    system = LocalActorSystem([TenantActor, NumberDirectory], state_store=store,
                              services={TenantRegions: regions.tenants},
                              clock=ManualClock(), background=False)
    await system.start()
    try:
        api = CarrierServicer(system, regions=regions.tenants)
        made = await api.CreateTenant(api_carrier.CreateTenantRequest(
            name="Acme EU", region="eu"), None)  # type: ignore[arg-type]
    finally:
        await system.stop()
    tenant_id = made.tenant.tenant_id
    assert ("tenant", tenant_id) in fakes["eu"].state
    assert ("tenant", tenant_id) in fakes["eu"].claims
    assert all(("tenant", tenant_id) not in fakes[n].claims for n in (SHARED, "us"))

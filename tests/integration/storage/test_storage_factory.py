"""open_stores gives working CDR, state and reminder stores on both backends."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from fabric.storage.base import CdrStore, Reminder, ReminderStore, StateStore
from fabric.storage.factory import open_stores
from fabric.storage.spool import SpoolingCdrStore


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("cassandra", marks=pytest.mark.cassandra)]
)
async def test_open_stores(backend, request, embedded_settings, make_cdr):
    settings = (
        request.getfixturevalue("cassandra_settings")
        if backend == "cassandra"
        else embedded_settings
    )
    stores = await open_stores(settings)
    try:
        assert isinstance(stores.cdr, CdrStore)
        assert isinstance(stores.state, StateStore)
        assert isinstance(stores.reminders, ReminderStore)
        assert isinstance(stores.cdr, SpoolingCdrStore) == (backend == "cassandra")
        cdr = make_cdr(tenant_id=f"t-{uuid.uuid4().hex[:8]}")
        await stores.cdr.write(cdr)
        assert await stores.cdr.get(cdr.tenant_id, cdr.call_id) == cdr
        page = await stores.cdr.query(
            cdr.tenant_id, cdr.start_time, cdr.start_time + timedelta(seconds=1)
        )
        assert page.records == [cdr]
        key = uuid.uuid4().hex
        assert await stores.state.save("tenant", key, b"s", 0) == 1
        await stores.reminders.upsert(Reminder("tenant", key, "r", 12.5))
        assert Reminder("tenant", key, "r", 12.5) in await stores.reminders.due(13.0)
        await stores.reminders.cancel("tenant", key, "r")
    finally:
        await stores.close()


async def test_embedded_store_is_shared_by_two_openers(embedded_settings):
    first = await open_stores(embedded_settings)
    second = await open_stores(embedded_settings)
    try:
        key = uuid.uuid4().hex
        await first.state.save("call", key, b"a", 0)
        stored = await second.state.load("call", key)
        assert stored is not None and stored.version == 1
    finally:
        await first.close()
        await second.close()

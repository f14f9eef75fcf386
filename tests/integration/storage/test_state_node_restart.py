"""No acknowledged transition lost when the Cassandra node restarts in the middle of a run.

Actors write through claims and fenced plain writes (``fabric.storage.cassandra_actor``);
the node is stopped while they run, some turns fail meanwhile (not acknowledged), the node
comes back, the run goes on with the same activations. Every transition that was
acknowledged is in the state read afterwards by a fresh connection. Runs on a private node
(127.0.0.41) so the shared dev node other tests use is untouched.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

from fabric.actor import ActorAddress, VirtualActor
from fabric.config import StorageSettings
from fabric.errors import FabricError
from fabric.storage.cassandra_actor import CassandraReminderStore, CassandraStateStore
from fabric.storage.cassandra_session import connect_sync
from fabric.storage.schema import apply_schema
from fabric.systems import LocalActorSystem

KEYS = 8
BEFORE = 40  # acknowledged transitions before the stop
DURING = 8  # attempted while the node is down
AFTER = 40  # acknowledged transitions after it is back
RETRY_FOR_S = 120.0


class Journal(VirtualActor):
    """Appends each entry to its saved list, with a reminder moved on every entry."""

    kind = "journal"

    async def on_activate(self) -> None:
        state = await self.ctx.load_state(StringValue)
        self.entries = [e for e in (state.value if state else "").split(",") if e]

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        assert isinstance(message, StringValue)
        self.entries.append(message.value)
        await self.ctx.set_reminder("check", 3600)
        await self.ctx.save_state(StringValue(value=",".join(self.entries)))
        return None


async def test_a_restarted_node_loses_no_acknowledged_transition(private_cassandra, tmp_path):
    (address,) = await asyncio.to_thread(private_cassandra.up, "127.0.0.41")
    settings = StorageSettings(
        backend="cassandra", cassandra_hosts=[address], keyspace="fenced_restart",
        consistency="LOCAL_QUORUM", data_dir=tmp_path / "data",
        **private_cassandra.client_settings(),
    )
    conn = connect_sync(settings, use_keyspace=False)
    try:
        apply_schema(conn.session, settings.keyspace)
    finally:
        conn.shutdown()
    state = await CassandraStateStore.open(settings)
    reminders = await CassandraReminderStore.open(settings)
    system = await LocalActorSystem([Journal], state_store=state, reminder_store=reminders,
                                    background=False).start()
    keys = [uuid.uuid4().hex for _ in range(KEYS)]
    acked: dict[str, list[str]] = {k: [] for k in keys}
    n = 0

    async def send(key: str) -> bool:
        nonlocal n
        n += 1
        entry = f"e{n}"
        try:
            await system.ref(ActorAddress(Journal.kind, key)).ask(
                StringValue(value=entry), timeout=15)
        except FabricError:
            return False
        acked[key].append(entry)
        return True

    try:
        for i in range(BEFORE):
            assert await send(keys[i % KEYS]), "the node is up: every transition succeeds"
        await asyncio.to_thread(private_cassandra.stop, 1)
        for i in range(DURING):
            await send(keys[i % KEYS])  # fails (the node is down); acknowledged if not
        await asyncio.to_thread(private_cassandra.start, 1)
        deadline = time.monotonic() + RETRY_FOR_S
        done = 0
        while done < AFTER:
            assert time.monotonic() < deadline, "the store did not come back after the restart"
            if await send(keys[done % KEYS]):
                done += 1
            else:
                await asyncio.sleep(0.2)
    finally:
        await system.stop()
        await state.close()
        await reminders.close()

    fresh = await CassandraStateStore.open(settings)
    try:
        for key in keys:
            stored = await fresh.load(Journal.kind, key)
            assert stored is not None
            value = StringValue()
            value.ParseFromString(stored.data)
            kept = value.value.split(",")
            missing = [e for e in acked[key] if e not in kept]
            assert missing == [], f"acknowledged transitions lost: {missing}"
            assert set(await fresh.reminders_of(Journal.kind, key)) == {"check"}
    finally:
        await fresh.close()

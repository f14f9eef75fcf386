"""Kill a worker node (its raylet, object store and workers) while 1,000 actors hold state.

The node is a worker the test adds to the session's Ray cluster (``ray_driver``); the head,
which the driver and the other modules use, survives."""

import asyncio
import time
from typing import Any

import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from cluster.ray_local import LocalRayCluster
from fabric.actor import ActorAddress, ActorRef
from fabric.config import FabricSettings
from fabric.errors import DeadlineExceeded, ResourceExhausted, Unavailable
from fabric.systems import RayActorSystem
from fabric.testing import eventually

pytestmark = [pytest.mark.ray]

ACTORS = 1_000
REMINDER_ACTORS = 100
REMINDER_DELAY_S = 8.0


RETRYABLE = (ResourceExhausted, Unavailable, DeadlineExceeded)  # FabricError.retryable


@pytest.fixture
def two_nodes(ray_driver: LocalRayCluster) -> LocalRayCluster:
    ray_driver.ensure_workers(1)  # the node this test kills
    return ray_driver


async def ask_until(ref: ActorRef, message: Message, deadline: float) -> Message:
    """Retry retryable errors (the documented client behaviour) until ``deadline``."""

    async def once() -> tuple[Message]:
        return (await ref.ask(message, timeout=10),)

    [reply] = await eventually(once, max(0.0, deadline - time.monotonic()), 0.2,
                               what=f"{ref.address} answers", retry_on=RETRYABLE)
    return reply


async def test_node_kill_keeps_acknowledged_state_and_reminders(
    two_nodes: LocalRayCluster, tmp_path: Any
) -> None:
    settings = FabricSettings(
        runtime={"hosts_per_node": 1, "gateway_per_node": False, "reminder_poll_s": 0.5,
                 "membership_check_s": 0.5},
        storage={"backend": "embedded", "data_dir": tmp_path},
    )
    system = await RayActorSystem.start(settings, actor_types=["fabric.testing:Probe"])
    try:
        await run_scenario(system, two_nodes)
    finally:
        await system.stop()


async def run_scenario(system: RayActorSystem, cluster: LocalRayCluster) -> None:
    view = await system.wait_for_hosts(2)
    worker_node = cluster.worker_node_ids()[0]
    doomed = [h for h, info in view.hosts.items() if info.node_id == worker_node]
    assert len(doomed) == 1
    refs = {f"acct-{i}": system.ref(ActorAddress("probe", f"acct-{i}")) for i in range(ACTORS)}
    expected: dict[str, int] = {}

    # 1. state, acknowledged before the kill (each ask answers after its save)
    for round_ in range(2):
        keys = list(refs)
        replies = await asyncio.gather(*(
            refs[k].ask(Int64Value(value=(i % 7) + 1 + round_), timeout=60)
            for i, k in enumerate(keys)))
        for i, (k, reply) in enumerate(zip(keys, replies, strict=True)):
            expected[k] = expected.get(k, 0) + (i % 7) + 1 + round_
            assert reply.value == expected[k]  # type: ignore[attr-defined]
    on_doomed = [k for k in refs if system.runtime.owner(ActorAddress("probe", k)) in doomed]
    assert 300 < len(on_doomed) < 700

    # 2. durable reminders due after the kill, half of them on the doomed host
    reminded = on_doomed[:REMINDER_ACTORS // 2] + [
        k for k in refs if k not in set(on_doomed)][:REMINDER_ACTORS // 2]
    await asyncio.gather(*(refs[k].ask(StringValue(value=f"remind:{REMINDER_DELAY_S}"))
                           for k in reminded))

    # 3. asks in flight on the doomed host when it dies
    in_flight = [asyncio.ensure_future(refs[k].ask(StringValue(value="sleep:25"), timeout=40))
                 for k in on_doomed[:20]]

    async def held() -> bool:
        return await system.run_on_host(doomed[0], "fabric.testing:sleeping_turns") == 20

    await eventually(held, 30, what="20 asks held on the doomed host")

    killed_at = time.monotonic()
    cluster.kill_node(worker_node)

    outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
    failed_after = time.monotonic() - killed_at
    # Unavailable, not their 40 s DeadlineExceeded: the loss was noticed (speed: benchmarks)
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes

    # 4. every actor answers with its last acknowledged state (retrying retryable errors)
    deadline = time.monotonic() + 90
    for k, ref in refs.items():
        state = await ask_until(ref, Empty(), deadline)
        assert isinstance(state, Struct)
        assert state["total"] == expected[k], k
    recovered_after = time.monotonic() - killed_at

    # 5. the reminders fire although their host died (once each, persisted)
    deadline = time.monotonic() + 60
    pending = set(reminded)

    async def all_fired() -> bool:
        for k in list(pending):
            state = await ask_until(refs[k], Empty(), deadline)
            assert isinstance(state, Struct)
            if state.fields.get("fired") is not None:
                assert state["fired"] >= 1
                pending.discard(k)
        assert not pending, f"{len(pending)} reminders have not fired"
        return True

    await eventually(all_fired, 60, 0.5, what="every reminder fired")

    # 6. Ray restarted the dead host on the surviving node and it rejoined
    view = await system.wait_for_hosts(2, timeout=60)
    assert {info.node_id for info in view.hosts.values()} == {cluster.head_node_id}
    print(f"node kill: waiting asks failed after {failed_after:.1f} s; all {ACTORS} actors "
          f"answered {recovered_after:.1f} s after the kill")

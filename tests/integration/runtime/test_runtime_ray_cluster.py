"""The runtime on a real local Ray cluster (head + 1 worker node, one host per node): the
session's cluster (``ray_driver``), which this module gives a worker node."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from google.protobuf.empty_pb2 import Empty
from google.protobuf.struct_pb2 import Struct
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from cluster.ray_local import LocalRayCluster
from fabric.actor import ActorAddress
from fabric.config import FabricSettings
from fabric.errors import FabricError, Internal, InvalidArgument, NotFound
from fabric.systems import RayActorSystem

pytestmark = [pytest.mark.ray, pytest.mark.asyncio(loop_scope="module")]

TYPES = ["fabric.testing:Probe", "fabric.testing:Echo"]


@pytest.fixture(scope="module")
def two_node_cluster(ray_driver: LocalRayCluster) -> LocalRayCluster:
    ray_driver.ensure_workers(1)
    return ray_driver


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(
    two_node_cluster: LocalRayCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RayActorSystem]:
    data: Path = tmp_path_factory.mktemp("runtime-data")
    settings = FabricSettings(
        runtime={"hosts_per_node": 1, "gateway_per_node": True},
        storage={"backend": "embedded", "data_dir": data},
    )
    system = await RayActorSystem.start(
        settings, actor_types=TYPES,
        gateway_services=["fabric.testing:start_null_gateway"],
    )
    yield system
    await system.stop()


def activations(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("fabric_actor_activations_total{")
    )


async def test_hosts_spread_over_nodes(system: RayActorSystem) -> None:
    view = await system.wait_for_hosts(2)
    assert len({info.node_id for info in view.hosts.values()}) == 2, view
    roles = sorted(info.role for info in view.hosts.values())
    assert roles == ["actor", "actor", "gateway", "gateway"]


async def test_actors_tell_an_endpoint_in_a_gateway(system: RayActorSystem) -> None:
    gateway = next(h for h, i in system.view.hosts.items() if i.role == "gateway")
    keys = [f"notify-{i}" for i in range(50)]
    got = await system.run_on_host(gateway, "fabric.testing:endpoint_roundtrip",
                                   keys, 20.0)
    assert got == len(keys)


async def test_ten_thousand_actors_activated_and_messaged(system: RayActorSystem) -> None:
    before = activations(await system.metrics_text())
    keys = [f"bulk-{i}" for i in range(10_000)]
    for start in range(0, len(keys), 2_000):
        chunk = keys[start:start + 2_000]
        replies = await asyncio.gather(*(
            system.ref(ActorAddress("probe", k)).ask(Int64Value(value=3), timeout=60)
            for k in chunk
        ))
        assert all(r.value == 3 for r in replies)  # type: ignore[attr-defined]
    info = [i for i in await system.host_info() if i["role"] == "actor"]
    assert sum(i["resident"] for i in info) >= 10_000
    assert all(i["resident"] > 3_000 for i in info)  # both hosts carry actors
    metrics = await system.metrics_text()
    assert activations(metrics) - before == 10_000
    assert "bulk-" not in metrics  # labels carry host ids, never actor keys
    # batched: far fewer Ray calls than messages
    assert system.runtime.transport.batches_sent < 2_000


async def test_order_per_actor_from_concurrent_senders(system: RayActorSystem) -> None:
    keys = [f"order-{i}" for i in range(40)]
    count = 50
    senders = [
        system.run_on_host(h, "fabric.testing:send_sequence", "probe", keys, h, count)
        for h in system.hosts
    ]

    async def from_driver(tag: str) -> int:
        # tells started in order keep their order even when many are in flight at once
        tells = [system.ref(ActorAddress("probe", k)).tell(StringValue(value=f"seq:{tag}:{n}"))
                 for n in range(count) for k in keys]
        results = await asyncio.gather(*tells, return_exceptions=True)
        return sum(1 for r in results if isinstance(r, FabricError))

    results = await asyncio.gather(*senders, from_driver("d1"), from_driver("d2"))
    assert results == [0] * len(results)
    tags = len(system.hosts) + 2
    for k in keys:
        ref = system.ref(ActorAddress("probe", k))
        assert (await ref.ask(StringValue(value="violations"))).value == 0  # type: ignore[attr-defined]
        assert (await ref.ask(StringValue(value="seen"))).value == tags * count  # type: ignore[attr-defined]


async def test_no_double_activation_under_racing_first_messages(
    system: RayActorSystem,
) -> None:
    keys = [f"race-{i}" for i in range(300)]
    before = activations(await system.metrics_text())

    async def burst() -> list[int]:
        replies = await asyncio.gather(
            *(system.ref(ActorAddress("probe", k)).ask(Int64Value(value=1), timeout=60)
              for k in keys),
            return_exceptions=True,
        )
        assert not [r for r in replies if isinstance(r, BaseException)]
        return [r.value for r in replies]  # type: ignore[union-attr]

    await asyncio.gather(*(burst() for _ in range(4)))
    assert activations(await system.metrics_text()) - before == len(keys)
    for k in keys:
        state = await system.ref(ActorAddress("probe", k)).ask(Empty())
        assert isinstance(state, Struct)
        assert state["total"] == 4  # every write landed on the one activation


async def test_cross_host_ask_from_inside_a_host(system: RayActorSystem) -> None:
    host = next(iter(system.hosts))
    result = await system.run_on_host(host, "fabric.testing:ask_rate", "echo",
                                      [f"xh-{i}" for i in range(50)], 500, 10)
    assert result["errors"] == 0 and result["asks"] == 500


async def test_handler_errors_cross_the_wire(system: RayActorSystem) -> None:
    ref = system.ref(ActorAddress("probe", "errors-1"))
    assert (await ref.ask(Int64Value(value=4))).value == 4  # type: ignore[attr-defined]
    with pytest.raises(NotFound) as err:
        await ref.ask(StringValue(value="fail:probe-says-no"))
    assert err.value.error_id == "probe-says-no"
    with pytest.raises(Internal) as crash:
        await ref.ask(StringValue(value="crash:"))
    assert crash.value.error_id == "actor-handler-failed"
    # restarted from its persisted state
    state = await ref.ask(Empty())
    assert isinstance(state, Struct) and state["total"] == 4
    with pytest.raises(InvalidArgument) as unknown:
        await system.ref(ActorAddress("nosuchkind", "x")).tell(Empty())
    assert unknown.value.error_id == "actor-unknown-kind"

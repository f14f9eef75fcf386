"""Nothing leaves for third parties: Ray's usage statistics are off in the running cluster.

Checked in the session's local Ray cluster (``ray_driver``, started by the fabric's own
launcher): the head recorded its cluster metadata without the fields Ray adds only when
usage reporting is on, and a worker process and an actor process both see the setting off.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ray
from ray._common.usage import usage_constants, usage_lib
from ray._private import ray_constants
from ray.experimental import internal_kv

# fields Ray's head writes into its cluster metadata only when usage stats are enabled
REPORTING_ONLY = {"git_commit", "os", "session_start_timestamp_ms"}


@ray.remote(num_cpus=0)
def _worker_view() -> tuple[str | None, bool]:
    return os.environ.get(usage_constants.USAGE_STATS_ENABLED_ENV_VAR), \
        usage_lib.usage_stats_enabled()


@ray.remote(num_cpus=0)
class _ActorView:
    def view(self) -> tuple[str | None, bool]:
        return os.environ.get(usage_constants.USAGE_STATS_ENABLED_ENV_VAR), \
            usage_lib.usage_stats_enabled()


def test_the_head_recorded_usage_stats_off(ray_driver: Any) -> None:
    raw = internal_kv._internal_kv_get(
        usage_constants.CLUSTER_METADATA_KEY, namespace=ray_constants.KV_NAMESPACE_CLUSTER
    )
    assert raw, "the head wrote no cluster metadata"
    metadata = json.loads(raw)
    assert "ray_version" in metadata
    assert not REPORTING_ONLY & set(metadata), metadata


def test_workers_and_actors_run_with_usage_stats_off(ray_driver: Any) -> None:
    assert ray.get(_worker_view.remote(), timeout=120) == ("0", False)
    actor = _ActorView.remote()  # type: ignore[attr-defined]
    try:
        assert ray.get(actor.view.remote(), timeout=120) == ("0", False)
    finally:
        ray.kill(actor)
    assert not usage_lib.usage_stats_enabled()  # the driver too

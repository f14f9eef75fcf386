"""How many relays a node runs by default: one per core it has to itself."""

from __future__ import annotations

import os

from fabric.config import MediaSettings
from fabric.media.relay_actor import _cores_per_node, relays_per_node


def test_an_explicit_count_wins_and_zero_means_one_per_core() -> None:
    assert relays_per_node(MediaSettings(relays_per_node=3), 16) == 3
    assert relays_per_node(MediaSettings(), 8) == 8
    assert relays_per_node(MediaSettings(), 0.5) == 1
    assert relays_per_node(MediaSettings()) == (os.cpu_count() or 1)


def test_ray_nodes_on_one_machine_share_its_cores() -> None:
    machine = os.cpu_count() or 1
    one = [{"NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 64.0}}]
    assert _cores_per_node(one) == machine  # capped at the machine's cores
    three = [{"NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 64.0}}] * 3
    assert _cores_per_node(three) == machine / 3
    assert relays_per_node(MediaSettings(), _cores_per_node(three)) == max(1, machine // 3)

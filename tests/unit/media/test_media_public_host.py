"""The relay advertises ``media.public_host`` (else its bind address) in its answers."""

from __future__ import annotations

from typing import Any

import pytest

from fabric.config import MediaSettings
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.legs import SdesLeg
from fabric.media.relay_actor import relay_configs
from fabric.media.suites import new_key_material, parse_suite
from fabric.media.types import MediaOffer

SUITE = "AES_CM_128_HMAC_SHA1_80"


def _engine_without_sockets(config: RelayConfig, monkeypatch: pytest.MonkeyPatch) -> RelayEngine:
    relay = RelayEngine(config)

    async def open_leg(leg_id: str, suite: Any, offer: MediaOffer, key: Any) -> SdesLeg:
        port = relay.ports.take()
        return SdesLeg(leg_id, port, suite, (offer.master_key, offer.master_salt), key,
                       relay.ports.give_back)

    monkeypatch.setattr(relay, "_open_sdes_leg", open_leg)
    return relay


def _offer() -> MediaOffer:
    key, salt = new_key_material(parse_suite(SUITE))
    return MediaOffer(SUITE, key, salt)


@pytest.mark.parametrize(
    ("bind", "public", "advertised"),
    [("0.0.0.0", "203.0.113.7", "203.0.113.7"), ("127.0.0.1", "", "127.0.0.1")],
)
async def test_answers_carry_the_advertised_address(
    bind: str, public: str, advertised: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RelayConfig(bind_host=bind, public_host=public, port_min=41000, port_max=41009)
    relay = _engine_without_sockets(config, monkeypatch)
    assert relay.allocate_session("c1").relay_host == advertised
    answer = await relay.add_leg("c1", "a", _offer())
    assert answer.relay_host == advertised
    assert 41000 <= answer.relay_port <= 41009


def test_settings_reach_every_relay_config() -> None:
    settings = MediaSettings(bind_host="0.0.0.0", public_host="198.51.100.9",
                             port_min=30000, port_max=30099)
    configs = relay_configs(settings, 2)
    assert [c.advertised_host for c in configs] == ["198.51.100.9", "198.51.100.9"]
    assert [c.bind_host for c in configs] == ["0.0.0.0", "0.0.0.0"]


def test_public_host_from_the_relay_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = RelayConfig(bind_host="0.0.0.0", public_host="$FABRIC_TEST_NODE_IP")
    monkeypatch.delenv("FABRIC_TEST_NODE_IP", raising=False)
    assert config.advertised_host == "0.0.0.0"  # unset: the bind address
    monkeypatch.setenv("FABRIC_TEST_NODE_IP", "192.0.2.44")
    assert config.advertised_host == "192.0.2.44"

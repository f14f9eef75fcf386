"""The relay's Prometheus export: aggregated, no per-call labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.legs import SdesLeg
from fabric.media.metrics import register_relay_metrics
from fabric.media.suites import SrtpSuite, new_key_material


async def test_media_metrics_sum_live_and_released_sessions() -> None:
    engine = RelayEngine(RelayConfig(relay_index=3, port_min=40000, port_max=40010))
    registry = CollectorRegistry()
    register_relay_metrics(engine, registry)
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    for call in ("call-secret-1", "call-secret-2"):
        engine.allocate_session(call)
        leg = SdesLeg(
            "leg-x", 40000, suite, new_key_material(suite), new_key_material(suite), print
        )
        leg.packets_out = 10
        leg.drop_replay = 2
        engine.sessions[call].add(leg)
    await engine.release_session("call-secret-1")
    text = generate_latest(registry).decode()
    assert 'fabric_media_packets_forwarded_total{relay="3"} 20.0' in text
    assert 'fabric_media_packets_dropped_total{reason="replay",relay="3"} 4.0' in text
    assert 'fabric_media_sessions_active{relay="3"} 1.0' in text
    assert "call-secret" not in text and "leg-x" not in text

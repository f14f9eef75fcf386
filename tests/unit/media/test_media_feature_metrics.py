"""The relay's feature metrics: fixed labels only (data class, reason), no ids or numbers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.feature_types import (
    DtmfDetected,
    ForkEnd,
    ForkFinished,
    ForkInfo,
    PlayRecEnd,
    PlayRecFinished,
    SealTarget,
)
from fabric.media.metrics import register_relay_metrics


def test_feature_events_are_counted_without_personal_labels() -> None:
    engine = RelayEngine(RelayConfig(relay_index=2, port_min=40000, port_max=40010))
    registry = CollectorRegistry()
    register_relay_metrics(engine, registry)
    features = engine.features
    target = SealTarget("t-secret", "voicemail", "vm-secret-obj", {"caller": "+15550001111"})
    features.emit(DtmfDetected("call-secret", "caller", "#", 100))
    features.emit(PlayRecFinished("call-secret", "caller", PlayRecEnd.DTMF, True, target,
                                  8000, 1000, 16000))
    info = ForkInfo("call-secret-2", "rec-secret", ("a", "b"), "stopped", bytes=32000, drops=3)
    features.emit(ForkFinished(info, ForkEnd.STOPPED, True))
    text = generate_latest(registry).decode()
    assert 'fabric_media_dtmf_events_total{relay="2"} 1.0' in text
    assert 'fabric_media_playrec_ended_total{reason="dtmf",relay="2"} 1.0' in text
    assert 'fabric_media_recordings_started_total{data_class="voicemail",relay="2"} 1.0' in text
    assert 'fabric_media_recording_bytes_total{data_class="voicemail",relay="2"} 16000.0' in text
    assert 'fabric_media_recording_bytes_total{data_class="recording",relay="2"} 32000.0' in text
    assert 'fabric_media_fork_drops_total{relay="2"} 3.0' in text
    assert 'fabric_media_recordings_active{data_class="recording",relay="2"} 0.0' in text
    assert "secret" not in text and "+1555" not in text and "caller" not in text
    assert len(engine.drain_events()) == 3 and engine.drain_events() == []

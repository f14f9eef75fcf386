"""The guarded fall-back: when the compiled data plane cannot load, the relay runs the
Python path, says so once in the log and in fabric_media_dataplane_info."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from fabric.media import fastpath
from fabric.media.engine import RelayConfig, RelayEngine
from fabric.media.metrics import register_relay_metrics


def _info(engine: RelayEngine, path: str) -> float | None:
    registry = CollectorRegistry()
    register_relay_metrics(engine, registry)
    return registry.get_sample_value("fabric_media_dataplane_info", {"relay": "0", "path": path})


def test_a_module_that_cannot_load_leaves_the_python_path_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise OSError("no C compiler")

    monkeypatch.setattr(fastpath, "_import_or_build", broken)
    monkeypatch.setattr(fastpath, "_module", None)
    monkeypatch.setattr(fastpath, "_failure", None)
    with caplog.at_level(logging.WARNING, logger="fabric.media.fastpath"):
        engine = RelayEngine(RelayConfig())
        RelayEngine(RelayConfig())  # a second engine does not log again
    assert engine.dataplane == "python"
    assert [r.getMessage() for r in caplog.records] == [
        "media: compiled data plane unavailable, the Python path runs (OSError: no C compiler)"
    ]
    assert (_info(engine, "python"), _info(engine, "compiled")) == (1.0, 0.0)


def test_the_python_path_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RelayEngine(RelayConfig(dataplane="python")).dataplane == "python"
    monkeypatch.setenv("FABRIC_MEDIA_DATAPLANE", "python")
    assert RelayEngine(RelayConfig()).dataplane == "python"

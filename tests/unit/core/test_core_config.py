from pathlib import Path

import pytest
from pydantic import ValidationError

from fabric.config import FabricSettings, load_settings

ROOT = Path(__file__).resolve().parents[3]


def test_env_overrides_nested_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABRIC_STORAGE__BACKEND", "cassandra")
    monkeypatch.setenv("FABRIC_API__PORT", "6000")
    settings = FabricSettings()
    assert settings.storage.backend == "cassandra"
    assert settings.api.port == 6000


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABRIC_API__PORT", "70000")
    with pytest.raises(ValidationError) as info:
        FabricSettings()
    assert "port" in str(info.value)


def test_sample_config_loads_and_matches_defaults() -> None:
    sample = load_settings(ROOT / "config.sample.toml")
    assert sample == FabricSettings()


def test_checked_in_sample_is_current() -> None:
    from fabric.config import render_sample

    assert (ROOT / "config.sample.toml").read_text() == render_sample(), (
        "config.sample.toml is stale: run `python -m fabric.config > config.sample.toml`"
    )

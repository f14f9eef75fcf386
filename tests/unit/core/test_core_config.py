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


def test_defaults_then_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FABRIC_API__PORT", "FABRIC_API__HOST", "FABRIC_METRICS__HOST"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "fabric.toml"
    config.write_text('[api]\nport = 50052\nhost = "0.0.0.0"\n[metrics]\nhost = "0.0.0.0"\n')
    assert FabricSettings().api.port == 50051  # default
    from_file = load_settings(config)
    assert (from_file.api.port, from_file.api.host) == (50052, "0.0.0.0")  # file over default
    monkeypatch.setenv("FABRIC_API__PORT", "50099")
    both = load_settings(config)
    assert both.api.port == 50099  # environment over file
    assert both.api.host == "0.0.0.0"  # the file's other keys in that section stay
    assert both.metrics.host == "0.0.0.0"
    assert both.storage == FabricSettings().storage  # sections the file omits keep defaults
    assert type(both) is FabricSettings


def test_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_bad_value_in_file_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "fabric.toml"
    config.write_text("[metrics]\nport = 70000\n")
    with pytest.raises(ValidationError, match="port"):
        load_settings(config)

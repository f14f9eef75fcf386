"""The CLI takes no key on its command line (every local user reads the process list): the
key comes from the environment, a file, a profile or the operator token file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric.client.cli import main
from fabric.client.cli.session import Session


@pytest.mark.parametrize("flag", ["--token", "--tok"])
def test_a_key_on_the_command_line_is_refused(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([flag, "fk_secret", "cdr", "list"]) == 2
    captured = capsys.readouterr()
    assert "fk_secret" not in captured.out + captured.err


def test_the_key_comes_from_the_environment_then_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "operator.token").write_text("op-token\n")
    key_file = tmp_path / "key"
    key_file.write_text("fk_from_file\n")
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    monkeypatch.delenv("FABRIC_TOKEN_FILE", raising=False)
    monkeypatch.delenv("FABRIC_PROFILE", raising=False)
    assert Session().credential().token == "op-token"
    monkeypatch.setenv("FABRIC_TOKEN_FILE", str(key_file))
    assert Session().credential().token == "fk_from_file"
    assert Session(token_file=key_file).credential().token == "fk_from_file"
    monkeypatch.setenv("FABRIC_TOKEN", "fk_from_env")
    assert Session(token_file=key_file).credential().token == "fk_from_env"
    monkeypatch.delenv("FABRIC_TOKEN")
    with pytest.raises(SystemExit):
        Session(token_file=tmp_path / "missing").credential()


def test_the_local_carrier_admin_key_comes_before_the_bootstrap_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make up`` makes a named carrier-admin for the local user: the CLI's default
    credential is that key (recorded in local.json, else beside the token file), never the
    operator token while the key exists."""
    from fabric.client.cli.profiles import LocalFabric, record_local_fabric

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("FABRIC_TOKEN", "FABRIC_TOKEN_FILE", "FABRIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / ".run"
    run.mkdir()
    (run / "operator.token").write_text("op-token\n")
    assert Session().credential().token == "op-token"
    (run / "carrier-admin.key").write_text("fk_carrier.beside.token\n")
    cred = Session().credential()
    assert cred.token == "fk_carrier.beside.token" and "carrier operator" in cred.describe()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "carrier-admin.key").write_text("fk_carrier.recorded.key\n")
    record_local_fabric(LocalFabric(
        target="localhost:1", ca="", operator_token_file=str(run / "operator.token"),
        tls=False, operator_key_file=str(elsewhere / "carrier-admin.key")))
    assert Session().credential().token == "fk_carrier.recorded.key"

"""The CLI takes no key on its command line (every local user reads the process list): the
key comes from the environment or a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric.client.cli import _token, build_parser


@pytest.mark.parametrize("flag", ["--token", "--tok"])
def test_a_key_on_the_command_line_is_refused(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([flag, "fk_secret", "cdr", "list"])
    assert info.value.code == 2
    assert "fk_secret" not in capsys.readouterr().out


def test_the_key_comes_from_the_environment_then_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = tmp_path / "operator.token"
    operator.write_text("op-token\n")
    key_file = tmp_path / "key"
    key_file.write_text("fk_from_file\n")
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    monkeypatch.delenv("FABRIC_TOKEN_FILE", raising=False)
    assert _token(None, operator) == "op-token"
    monkeypatch.setenv("FABRIC_TOKEN_FILE", str(key_file))
    assert _token(None, operator) == "fk_from_file"
    args = build_parser().parse_args(["--token-file", str(key_file), "cdr", "list"])
    assert _token(args.token_file, operator) == "fk_from_file"
    monkeypatch.setenv("FABRIC_TOKEN", "fk_from_env")
    assert _token(args.token_file, operator) == "fk_from_env"
    with pytest.raises(SystemExit):
        monkeypatch.delenv("FABRIC_TOKEN")
        _token(tmp_path / "missing", operator)

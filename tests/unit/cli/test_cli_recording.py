"""``fabric recording`` and ``fabric call record``, offline: each command parses and names the
credential it needs, bad values are refused before any call, and ``ext set
--recording-policy`` writes the policy (the deprecated bool mirrors ALWAYS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.client.cli import main
from fabric.client.cli.extensions import _apply
from fabric.client.cli.session import ADMIN, MEMBER, Session
from fabric.media import g711


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []

    def run(self: Session, needs: str, body: Any) -> None:
        seen.append(needs)

    monkeypatch.setattr(Session, "run", run)
    yield seen


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["recording", "list", "--ext", "101", "--hours", "2"], MEMBER),
        (["recording", "get", "20260301-" + "a" * 32 + "-1"], MEMBER),
        (["recording", "show", "20260301-" + "a" * 32 + "-1"], MEMBER),
        (["recording", "play", "20260301-" + "a" * 32 + "-1", "--out", "x.wav"], MEMBER),
        (["recording", "delete", "20260301-" + "a" * 32 + "-1", "--yes"], ADMIN),
        (["recording", "settings", "--consent", "--objection-digit", "#"], ADMIN),
        (["call", "record", "start", "0" * 32], MEMBER),
        (["call", "record", "stop", "0" * 32], MEMBER),
        (["ext", "set", "101", "--recording-policy", "on-demand"], ADMIN),
    ],
)
def test_commands_parse_and_name_their_credential(
    calls: list[str], argv: list[str], needs: str
) -> None:
    assert main(argv) == 0
    assert calls == [needs]


@pytest.mark.parametrize(
    "argv",
    [
        ["recording", "list", "--ext", "1"],
        ["recording", "settings", "--objection-digit", "x"],
        ["ext", "set", "101", "--recording-policy", "sometimes"],
        ["recording", "settings", "--announcement", "/nonexistent.wav"],
    ],
)
def test_bad_values_are_refused_before_any_call(calls: list[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert calls == []


def test_an_announcement_file_is_converted_before_the_call(
    calls: list[str], tmp_path: Path
) -> None:
    prompt = tmp_path / "prompt.wav"
    g711.write_ulaw_wav(prompt, g711.sweep_ulaw(0.5))
    assert main(["recording", "settings", "--announcement", str(prompt)]) == 0
    assert calls == [ADMIN]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav")
    assert main(["recording", "settings", "--announcement", str(broken)]) == 2


def test_the_policy_option_and_the_old_flag_write_the_policy() -> None:
    e = api_tenant.Extension(extension="101")
    _apply(e, None, None, None, None, None, False, "on-demand")
    assert (e.recording_policy, e.recording) == (api_tenant.RECORDING_ON_DEMAND, False)
    _apply(e, None, None, True, None, None, False)
    assert (e.recording_policy, e.recording) == (api_tenant.RECORDING_ALWAYS, True)
    _apply(e, None, None, False, None, None, False)
    assert (e.recording_policy, e.recording) == (api_tenant.RECORDING_OFF, False)

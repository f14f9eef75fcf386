"""``fabric sms``, offline: the verbs parse and need a tenant key; bad values are refused
(exit 2, naming what is wrong) before any call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fabric.client.cli import main
from fabric.client.cli.session import MEMBER, Session


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []

    def run(self: Session, needs: str, body: Any) -> None:
        seen.append(needs)

    monkeypatch.setattr(Session, "run", run)
    yield seen


@pytest.mark.parametrize("argv", [
    ["sms", "send", "101", "+15550100001", "Lunch at noon?"],
    ["sms", "send", "+15550100000", "+15550100001", "STOP"],
    ["sms", "list", "--number", "+15550100000", "--limit", "10"],
    ["sms", "show", "+15550100001", "+15550100000", "--mark-read", "-o", "json"],
])
def test_sms_verbs_parse_and_need_a_tenant_key(calls: list[str], argv: list[str]) -> None:
    assert main(argv) == 0
    assert calls == [MEMBER]


@pytest.mark.parametrize(("argv", "named"), [
    (["sms", "send", "101", "+15550100001", "   "], "empty"),
    (["sms", "send", "101", "+15550100001", "x" * 1601], "1601"),
    (["sms", "send", "101", "15550100001", "hi"], "15550100001"),
    (["sms", "list", "--limit", "500"], "500"),
])
def test_bad_values_are_refused_before_any_call(
    calls: list[str], capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert main(argv) == 2
    assert named in capsys.readouterr().err
    assert calls == []

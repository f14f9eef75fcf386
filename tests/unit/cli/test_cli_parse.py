"""The ``fabric`` command's parsing, offline: every README command parses (the call itself is
replaced), global options work after the subcommand, aliases resolve, bad values are named
before any call, and every command says which credential it needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
import pytest

from fabric.client.cli import cli, main
from fabric.client.cli.base import hoist_global_options
from fabric.client.cli.hours import parse_interval
from fabric.client.cli.session import ADMIN, MEMBER, OPERATOR, Session


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Session]]]:
    seen: list[tuple[str, Session]] = []

    def run(self: Session, needs: str, body: Any) -> None:
        seen.append((needs, self))

    monkeypatch.setattr(Session, "run", run)
    yield seen


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["tenant", "add", "Acme"], OPERATOR),
        (["tenant", "create", "Acme"], OPERATOR),
        (["tenant", "list", "--status", "active"], OPERATOR),
        (["tenant", "close", "t-1", "--yes"], OPERATOR),
        (["number", "add", "t-1", "--count", "2"], OPERATOR),
        (["number", "set", "+15550100001", "--group", "sales"], ADMIN),
        (["number", "route", "+15550100001", "--ext", "101"], ADMIN),
        (["user", "add", "Alice", "--ext", "101", "--voicemail"], ADMIN),
        (["ext", "set", "101", "--recording", "--forward-no-answer", "+15550100123"], ADMIN),
        (["group", "add", "sales", "101", "102", "--in-order"], ADMIN),
        (["hours", "set", "--timezone", "Europe/Paris", "--open", "mon-fri 09:00-17:00",
          "--after-hours-ext", "200"], ADMIN),
        (["hours", "show"], ADMIN),
        (["key", "revoke", "0123", "--yes"], ADMIN),
        (["phone", "102", "--auto-answer", "--hangup-after", "3"], MEMBER),
        (["call", "dial", "101", "102", "--wait"], MEMBER),
        (["call", "transfer", "0" * 32, "+15550100001"], MEMBER),
        (["cdr", "list", "--hours", "2"], MEMBER),
        (["cdr", "list", "--output", "json", "--tz", "Europe/Paris"], MEMBER),
    ],
)
def test_commands_parse_and_name_their_credential(
    calls: list[tuple[str, Session]], argv: list[str], needs: str
) -> None:
    assert main(argv) == 0
    assert calls[-1][0] == needs


def test_global_options_after_the_subcommand(calls: list[tuple[str, Session]]) -> None:
    assert hoist_global_options(["user", "list", "-o", "json", "--tz=Asia/Tokyo"]) == [
        "-o", "json", "--tz=Asia/Tokyo", "user", "list"]
    assert main(["user", "list", "--output", "json", "--target", "h:1"]) == 0
    session = calls[-1][1]
    assert (session.output, session.target) == ("json", "h:1")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["number", "add", "t-1", "--count", "-3"], "-3"),
        (["cdr", "list", "--limit", "-1"], "-1"),
        (["wav", "x.wav", "--seconds", "100000"], "100000"),
        (["user", "add", "Eve", "--ext", "10x"], "10x"),
        (["--tz", "Mars/Olympus", "cdr", "list"], "Mars/Olympus"),
        (["call", "dial", "101", "+12"], "+12"),
    ],
)
def test_bad_values_are_named_before_any_call(
    calls: list[tuple[str, Session]], capsys: pytest.CaptureFixture[str], argv: list[str],
    named: str
) -> None:
    assert main(argv) == 2
    assert named in capsys.readouterr().err
    assert calls == []


def test_intervals() -> None:
    assert [i.weekday for i in parse_interval("mon-fri 09:00-17:30")] == [0, 1, 2, 3, 4]
    assert parse_interval("sun 10:00-12:00")[0].end_minute == 720
    with pytest.raises(click.BadParameter):
        parse_interval("fri-mon 09:00-17:00")


def test_every_group_has_the_standard_verbs() -> None:
    for name in ("user", "ext", "group", "key", "tenant"):
        group = cli.commands[name]
        assert isinstance(group, click.Group)
        missing = {"list", "get", "add", "delete"} - set(group.commands)
        assert not missing, (name, missing)

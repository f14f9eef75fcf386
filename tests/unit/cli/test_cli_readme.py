"""The README's command reference matches ``fabric --help``: every command it lists exists,
and every command of the CLI is listed."""

from __future__ import annotations

import re
from pathlib import Path

import click

from fabric.client.cli import cli

README = Path(__file__).resolve().parents[3] / "README.md"


def _listed() -> set[str]:
    text = README.read_text()
    section = text[text.index("## The `fabric` command"):text.index("## Layout")]
    listed: set[str] = set()
    for cell in re.findall(r"^\| `([^`]+)`(?:, `([^`]+)`)?", section, flags=re.M):
        for command in filter(None, cell):
            words = command.replace("\\|", "|").split()
            assert words[0] == "fabric", command
            for first in words[1].split("|"):
                if len(words) > 2 and not words[2].startswith(("-", "EXT", "PATH")):
                    listed.update(f"{first} {verb}" for verb in words[2].split("|"))
                else:
                    listed.add(first)
    return listed


def _commands() -> set[str]:
    found: set[str] = set()
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            found.update(f"{name} {verb}" for verb in command.commands)
        else:
            found.add(name)
    return found


def test_the_readme_lists_exactly_the_commands() -> None:
    assert _listed() == _commands()

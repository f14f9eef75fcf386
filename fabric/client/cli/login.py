"""``fabric login``, ``fabric logout`` and ``fabric profile``: named profiles in the per-user
config folder (see :mod:`.profiles`), so a key need not sit in the environment."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .base import Group, pass_session
from .output import emit
from .profiles import Profile, ProfileStore, config_dir
from .session import Credential, Session


@click.command()
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="read the key from this file (else $FABRIC_TOKEN, else a hidden prompt)")
@pass_session
def login(s: Session, key_file: Path | None) -> None:
    """Save a profile (--profile NAME, default "default"): the target, CA and key to use
    (key file mode 0600 under $XDG_CONFIG_HOME/fabric), and make it the current one. Target
    and CA come from --target/--ca/--insecure (or FABRIC_TARGET)."""
    name = s.profile or "default"
    if key_file is not None:
        token = key_file.read_text().strip()
    elif os.environ.get("FABRIC_TOKEN", "").strip():
        token = os.environ["FABRIC_TOKEN"].strip()
    else:
        token = click.prompt("API key or operator token", hide_input=True).strip()
    if not token:
        raise click.UsageError("the key is empty")
    target = s.target or os.environ.get("FABRIC_TARGET") or ""
    ca = str(s.ca.resolve()) if s.ca else ""
    try:
        ProfileStore().save(name, Profile(target=target, ca=ca, insecure=s.insecure), token,
                            make_current=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--profile'") from None
    who = Credential(token, f"profile {name}").describe()
    click.echo(f"profile {name} saved in {config_dir()} and made current: {who}; "
               f"target {target or '(the local fabric)'}")


@click.command()
@pass_session
def logout(s: Session) -> None:
    """Forget a profile (--profile NAME, default the current one) and delete its key."""
    store = ProfileStore()
    name = s.profile or store.current()
    if not name or not store.remove(name):
        raise click.ClickException(f"no profile {name or '(none is current)'}")
    click.echo(f"profile {name} removed")


@click.group(cls=Group)
def profile() -> None:
    """Profiles made by `fabric login`."""


@profile.command("list")
@pass_session
def profile_list(s: Session) -> None:
    """Every profile; * marks the current one."""
    store = ProfileStore()
    current = store.current()
    rows = []
    data = []
    for name in store.names():
        p = store.get(name)
        assert p is not None
        rows.append(("*" if name == current else "", name, p.target or "(local)",
                     p.ca or "-", "yes" if p.insecure else "no"))
        data.append({"name": name, "current": name == current, "target": p.target,
                     "ca": p.ca, "insecure": p.insecure})
    emit(s, data, ["", "profile", "target", "ca", "plaintext"], rows)


@profile.command("set")
@click.argument("name")
def profile_set(name: str) -> None:
    """Make NAME the current profile."""
    try:
        ProfileStore().use(name)
    except KeyError:
        raise click.ClickException(f"no profile {name!r} (see `fabric profile list`)") from None
    click.echo(f"profile {name} is now current")

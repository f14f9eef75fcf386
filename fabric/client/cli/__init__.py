"""``fabric``: the command-line tool for carriers, tenant admins and test softphones.

Every resource takes the same verbs (``list``, ``get``, ``add``, ``set``, ``delete``);
``--output json`` prints JSON, ``--tz`` shows times in a zone, ``--yes`` skips the question
before a destructive change. Global options may come before or after the subcommand.
Credentials and target: see :mod:`.session`; ``fabric login`` stores a profile.
Shell completion (bash): ``eval "$(_FABRIC_COMPLETE=bash_source fabric)"`` (zsh: zsh_source,
fish: fish_source). Media keys and API keys are never printed except a new key, once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from .audit import audit
from .base import Group, hoist_global_options
from .carrier import number, tenant
from .extensions import ext, group
from .hours import hours
from .login import login, logout, profile
from .media import call, phone, wav
from .operators import compliance, operator
from .output import check_tz
from .privacy import privacy
from .recording import record, recording
from .records import cdr
from .session import Session
from .sms import sms
from .users import key, user
from .voicemail import voicemail


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("callfabric")
    except PackageNotFoundError:
        return "unknown"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="fabric")
@click.option("--target", envvar="FABRIC_TARGET", show_envvar=True,
              help="host:port of the API (default: profile, `make up`'s, localhost:<api.port>)")
@click.option("--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate to trust (default <api.tls_dir>/ca.pem)")
@click.option("--insecure", is_flag=True, help="plaintext (a server with api.tls off)")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="file holding the API key or operator token (after $FABRIC_TOKEN; also "
                   "$FABRIC_TOKEN_FILE); there is no --token: the process list is public")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="settings TOML file")
@click.option("--profile", help="a profile made by `fabric login` (also $FABRIC_PROFILE)")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="how to print results")
@click.option("--tz", default="UTC", show_default=True, callback=check_tz,
              help="IANA time zone for printed times")
@click.pass_context
def cli(ctx: click.Context, target: str | None, ca: Path | None, insecure: bool,
        token_file: Path | None, config: Path | None, profile: str | None, output: str,
        tz: str) -> None:
    """Drive the call fabric's gRPC API: tenants and numbers (carrier), users, extensions,
    ring groups, hours and keys (tenant admins), calls, softphones and call records."""
    ctx.obj = Session(target=target, ca=ca, insecure=insecure, token_file=token_file,
                      config=config, profile=profile, output=output, tz=tz)


for command in (tenant, number, user, ext, group, hours, key, call, phone, wav, cdr, login,
                logout, profile, sms, recording):
    cli.add_command(command)
call.add_command(record)  # fabric call record start|stop (fabric/client/cli/recording.py)

cli.add_command(voicemail)  # fabric voicemail ... (fabric/client/cli/voicemail.py)
cli.add_command(privacy)  # fabric privacy ... (fabric/client/cli/privacy.py, issue 13)
for command in (audit, operator, compliance):  # issue 14: fabric/client/cli/{audit,operators}.py
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fabric`` command."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="fabric", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0

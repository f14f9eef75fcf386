"""One CLI invocation: which fabric, which credential, how to print, and how errors end.

Credential, first found wins: ``$FABRIC_TOKEN``; ``--token-file``; ``$FABRIC_TOKEN_FILE``;
the profile's key (``--profile``, ``$FABRIC_PROFILE`` or the current one, see
``fabric login``); the carrier-admin key ``make up`` made for the local user (the file it
recorded, else ``carrier-admin.key`` beside the settings' ``api.operator_token_file``);
then the operator token file of the settings (relative to the current folder) or the one
``make up`` recorded: the bootstrap credential, which by default only manages operators
(``api.operator_token_bootstrap_only``). There is no ``--token``: a key on the command
line is visible to every local user.

Target: ``--target``, ``$FABRIC_TARGET``, the profile's, the one ``make up`` recorded,
``localhost:<api.port>``. CA: ``--ca``, the profile's, the recorded one,
``<api.tls_dir>/ca.pem``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
import grpc

from fabric.client.bootstrap import carrier_admin_key_file
from fabric.client.client import FabricClient
from fabric.config import FabricSettings, load_settings
from fabric.edge.credentials import KEY_PREFIX, parse_api_key
from fabric.errors import FabricError

from .profiles import LocalFabric, Profile, ProfileStore, read_local_fabric

OPERATOR = "operator"
OPERATOR_KEY = KEY_PREFIX + "carrier."  # named carrier staff (fabric operator add)
ADMIN = "admin"
MEMBER = "member"
NEEDS = {
    OPERATOR: "a carrier-admin's key (the operator token only manages operators)",
    ADMIN: "a tenant API key of an owner or admin",
    MEMBER: "a tenant API key (any role)",
}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@dataclass
class Credential:
    """A token and where it came from (for messages; never the token itself)."""

    token: str
    source: str

    @property
    def is_tenant_key(self) -> bool:
        """An ``fk_`` tenant API key (else the operator token or a carrier operator's key,
        ``fk_carrier.``)."""
        return self.token.startswith(KEY_PREFIX) and not self.token.startswith(OPERATOR_KEY)

    def describe(self) -> str:
        """E.g. 'a tenant API key of t-1234 (from $FABRIC_TOKEN)'."""
        if self.is_tenant_key:
            try:
                tenant = parse_api_key(self.token).tenant_id
            except FabricError:  # a malformed key is still "a tenant API key"
                tenant = "?"
            return f"a tenant API key of {tenant} (from {self.source})"
        if self.token.startswith(OPERATOR_KEY):
            return f"a carrier operator's key (from {self.source})"
        return f"the operator token, the bootstrap credential (from {self.source})"


@dataclass
class Session:
    """Global options of one invocation and what they resolve to."""

    target: str | None = None
    ca: Path | None = None
    insecure: bool = False
    token_file: Path | None = None
    config: Path | None = None
    profile: str | None = None
    output: str = "table"
    tz: str = "UTC"
    _settings: FabricSettings | None = field(default=None, repr=False)

    # ---- where and who ----------------------------------------------------------------

    def settings(self) -> FabricSettings:
        """The settings (``--config``, then ``FABRIC_*``)."""
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def _profile(self) -> tuple[str, Profile | None]:
        store = ProfileStore()
        name = self.profile or os.environ.get("FABRIC_PROFILE") or ""
        try:
            if name:
                found = store.get(name)
                if found is None:
                    fail(f"no profile {name!r} (profiles: {', '.join(store.names()) or 'none'}; "
                         "`fabric login --profile NAME` makes one)")
                return name, found
            name = store.current()
            return name, store.get(name) if name else None
        except ValueError as exc:
            fail(str(exc))

    def _local(self) -> LocalFabric | None:
        """The fabric ``make up`` recorded, unless --config names another one."""
        return None if self.config is not None else read_local_fabric()

    def credential(self) -> Credential:
        """The token to use and where it came from (see the module doc)."""
        if os.environ.get("FABRIC_TOKEN", "").strip():
            return Credential(os.environ["FABRIC_TOKEN"].strip(), "$FABRIC_TOKEN")
        named, source = self.token_file, "--token-file"
        if named is None and os.environ.get("FABRIC_TOKEN_FILE"):
            named, source = Path(os.environ["FABRIC_TOKEN_FILE"]), "$FABRIC_TOKEN_FILE"
        if named is not None:
            if not named.is_file():
                fail(f"{source}: no token file at {named}")
            return Credential(named.read_text().strip(), f"{source} {named}")
        name, profile = self._profile()
        if profile is not None:
            key_file = ProfileStore().key_file(name)
            if key_file.is_file():
                return Credential(key_file.read_text().strip(), f"profile {name}")
        local = self._local()
        operator = self.settings().api.operator_token_file
        for key_file in ((Path(local.operator_key_file),) if local and local.operator_key_file
                         else ()) + (carrier_admin_key_file(operator),):
            if key_file.is_file():  # the local carrier-admin (make up made it)
                return Credential(key_file.read_text().strip(), str(key_file.resolve()))
        if operator.is_file():
            return Credential(operator.read_text().strip(), str(operator.resolve()))
        if local is not None and Path(local.operator_token_file).is_file():
            path = local.operator_token_file
            return Credential(Path(path).read_text().strip(), path)
        fail("no credentials: set FABRIC_TOKEN, pass --token-file (or FABRIC_TOKEN_FILE), run "
             "`fabric login`, or start a local fabric with `make up`")

    def where(self) -> tuple[str, Path | None]:
        """The API's host:port and the CA to trust (None: plaintext)."""
        _, profile = self._profile()
        local = self._local()
        settings = self.settings()
        target = (self.target or os.environ.get("FABRIC_TARGET")
                  or (profile.target if profile else "") or (local.target if local else "")
                  or f"localhost:{settings.api.port}")
        insecure = self.insecure or bool(profile and profile.insecure)
        if insecure or (local is not None and not local.tls and not profile
                        and self.ca is None):
            return target, None
        if self.ca is not None:
            ca = self.ca
        elif profile is not None and profile.ca:
            ca = Path(profile.ca)
        elif local is not None and local.ca and Path(local.ca).is_file():
            ca = Path(local.ca)
        elif not settings.api.tls:
            return target, None
        else:
            ca = settings.api.tls_dir / "ca.pem"
        if not ca.is_file():
            fail(f"no CA certificate at {ca}: start the fabric (`make up`), pass --ca, or "
                 "`fabric login --ca FILE`")
        return target, ca

    def check(self, needs: str) -> Credential:
        """The credential for a command that needs role ``needs`` (OPERATOR, ADMIN or
        MEMBER); refuses at once a credential of the wrong kind, naming both."""
        cred = self.credential()
        if needs == OPERATOR and cred.is_tenant_key:
            fail(f"this command needs {NEEDS[OPERATOR]}; you used {cred.describe()}")
        if needs != OPERATOR and not cred.is_tenant_key:
            fail(f"this command needs {NEEDS[needs]} (set FABRIC_TOKEN, pass --token-file or "
                 f"`fabric login`); you used {cred.describe()}")
        return cred

    # ---- running ----------------------------------------------------------------------

    def run(self, needs: str, body: Callable[[FabricClient], Awaitable[Any]]) -> None:
        """Run ``body`` with a client; turn every failure into one line and exit 1."""
        cred = self.check(needs)
        target, ca = self.where()

        async def go() -> None:
            client = FabricClient(target, cred.token, ca_file=ca)  # on this loop
            try:
                await body(client)
            finally:
                await client.close()

        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            sys.exit(130)
        except FabricError as exc:
            fail(explain(exc, target, needs, cred))
        except grpc.aio.AioRpcError as exc:  # a stream's own error (Register)
            fail(f"{exc.code().name}: {exc.details()}")
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def explain(exc: FabricError, target: str, needs: str, cred: Credential) -> str:
    """One line for a server error: the error id, the message and what to do."""
    code = exc.code
    unreachable = ("failed to connect", "connection refused", "dns resolution", "connect failed")
    if code == grpc.StatusCode.UNAVAILABLE and any(u in exc.message.lower() for u in unreachable):
        return (f"the fabric is not reachable at {target} (is it running? start it with "
                "`make up`, or point --target / FABRIC_TARGET at it)")
    line = f"[{exc.error_id}] {exc.message}"
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        line += f" (this command needs {NEEDS[needs]}; you used {cred.describe()})"
    return line

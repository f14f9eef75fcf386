"""``python -m fabric.vault``: key operations for an operator.

- ``rotate-root``: a new root key version (then run ``rewrap``);
- ``rotate-tenant TENANT``: a new key version for one tenant (then run ``rewrap``);
- ``rewrap [--retire]``: re-wrap every tenant key under the current root version and every
  data key under its tenant's current version; ``--retire`` then removes the versions
  nothing uses any more;
- ``sweep``: destroy the data keys whose backup window has ended (hosts also do this).

Settings come from ``--config FILE`` and ``FABRIC_*`` variables, as for every process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from fabric.config import load_settings
from fabric.vault.factory import open_vault
from fabric.vault.shredding import KeySweeper


async def _main(args: argparse.Namespace) -> dict[str, object]:
    settings = load_settings(args.config)
    connection = None
    if settings.storage.backend == "cassandra":
        from fabric.storage.cassandra_session import connect_sync
        from fabric.storage.schema import apply_schema

        connection = connect_sync(settings.storage, use_keyspace=False)
        apply_schema(
            connection.session,
            settings.storage.keyspace,
            replication_factor=settings.storage.replication_factor,
            datacenter=settings.storage.datacenter,
        )
        connection.session.set_keyspace(settings.storage.keyspace)
    vault = await open_vault(settings.storage, settings.vault, connection=connection)
    try:
        if args.command == "rotate-root":
            return {"root_version": await vault.rotate_root()}
        if args.command == "rotate-tenant":
            return {"tenant_version": await vault.rotate_tenant(args.tenant)}
        if args.command == "sweep":
            return {"destroyed": await KeySweeper(vault.keys, vault.clock).sweep_once()}
        report = await vault.rewrap(retire=args.retire)
        return {
            "tenant_keys_rewrapped": report.tenant_keys_rewrapped,
            "data_keys_rewrapped": report.data_keys_rewrapped,
            "root_versions_retired": report.root_versions_retired,
            "tenant_versions_retired": report.tenant_versions_retired,
            "failed": report.failed,
        }
    finally:
        await vault.close()
        if connection is not None:
            connection.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Run one vault command; print its result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m fabric.vault", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="settings TOML file")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rotate-root", help="new root key version")
    tenant = sub.add_parser("rotate-tenant", help="new key version for one tenant")
    tenant.add_argument("tenant")
    rewrap = sub.add_parser("rewrap", help="re-wrap every key under the current versions")
    rewrap.add_argument("--retire", action="store_true", help="then drop unused versions")
    sub.add_parser("sweep", help="destroy data keys past the backup window")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

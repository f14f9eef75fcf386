"""The Cassandra schema: versioned CQL migrations applied idempotently at start-up.

``fabric/storage/migrations/NNN_name.cql`` files are applied in order. Each statement is written to
be re-runnable (``IF NOT EXISTS``) and each applied version is recorded in
``schema_migrations`` with a checksum, so a second start-up applies nothing, a process that
died half-way re-applies the rest, and an edited migration that was already applied is
reported instead of silently diverging. Migrations name no keyspace: ``CREATE TABLE`` and
``CREATE TYPE`` are qualified here, and any other statement (an index ``ON`` a table, say)
writes ``{keyspace}.table`` and gets the keyspace substituted. The keyspace itself is
created here with NetworkTopologyStrategy and a configurable replication factor (1 locally,
3 in production).

Run by hand: ``python -m fabric.storage.schema --hosts 127.0.0.1 --keyspace callfabric --rf 1``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
KEYSPACE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
DATACENTER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FILE_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.cql$")


class SchemaError(RuntimeError):
    """The schema could not be applied; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version, name, statements and checksum."""

    version: int
    name: str
    statements: list[str]
    checksum: str


def _split_statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read every ``NNN_name.cql`` in ``directory``, ordered by version."""
    migrations = []
    for path in sorted(directory.glob("*.cql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise SchemaError(f"migration file {path.name} must be named NNN_name.cql")
        text = path.read_text()
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=_split_statements(text),
                checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"two migrations share a version in {directory}")
    return migrations


def check_keyspace_name(keyspace: str) -> str:
    """Return ``keyspace`` if it is a safe CQL identifier, else raise ``SchemaError``."""
    if not KEYSPACE_RE.match(keyspace):
        raise SchemaError(
            f"keyspace name must be lowercase letters, digits and '_' (max 48), got {keyspace!r}"
        )
    return keyspace


def create_keyspace_cql(keyspace: str, replication_factor: int, datacenter: str) -> str:
    """The CREATE KEYSPACE statement (NetworkTopologyStrategy, one DC)."""
    check_keyspace_name(keyspace)
    if not DATACENTER_RE.match(datacenter):
        raise SchemaError(f"datacenter name {datacenter!r} is not a valid identifier")
    if replication_factor < 1:
        raise SchemaError("replication_factor must be >= 1")
    return (
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{datacenter}': {replication_factor}}}"
    )


def apply_schema(
    session: Any,
    keyspace: str,
    *,
    replication_factor: int = 1,
    datacenter: str = "datacenter1",
    directory: Path = MIGRATIONS_DIR,
) -> list[int]:
    """Create the keyspace and apply pending migrations; return the versions applied now.

    ``session`` is a connected ``cassandra.cluster.Session``. Safe to call at every start-up
    and from several processes at once (every statement is idempotent).
    """
    _ddl(session, create_keyspace_cql(keyspace, replication_factor, datacenter))
    _ddl(
        session,
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations ("
        "version int PRIMARY KEY, name text, checksum text, applied_at timestamp)",
    )
    rows = session.execute(f"SELECT version, checksum FROM {keyspace}.schema_migrations")
    applied = {row.version: row.checksum for row in rows}
    done = []
    for migration in load_migrations(directory):
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise SchemaError(
                    f"migration {migration.version:03d}_{migration.name} changed after it was "
                    f"applied to {keyspace}; add a new migration instead of editing it"
                )
            continue
        for statement in migration.statements:
            _ddl(session, _qualify(statement, keyspace))
        session.execute(
            f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
            "VALUES (%s, %s, %s, toTimestamp(now()))",
            (migration.version, migration.name, migration.checksum),
        )
        done.append(migration.version)
    return done


SCHEMA_AGREEMENT_WAIT_S = 60.0


def _ddl(session: Any, statement: str) -> None:
    """Run a schema change and wait until every live node has it.

    Without the wait, the next statement may reach a replica that has not seen the new
    table yet (``INCOMPATIBLE_SCHEMA``); the driver's own wait gives up after 10 s, which a
    loaded machine with three nodes exceeds.
    """
    result = session.execute(statement)
    if result.response_future.is_schema_agreed:
        return
    control = session.cluster.control_connection
    if not control.wait_for_schema_agreement(wait_time=SCHEMA_AGREEMENT_WAIT_S):
        raise SchemaError(
            f"nodes did not agree on the schema within {SCHEMA_AGREEMENT_WAIT_S:.0f}s; check "
            "that every node is up (python -m cluster.cassandra status)"
        )


_CREATE_RE = re.compile(
    r"^(CREATE\s+(?:TABLE|TYPE)\s+)(IF\s+NOT\s+EXISTS\s+)?(\w+)(\.)?",
    re.IGNORECASE,
)


def _qualify(statement: str, keyspace: str) -> str:
    """Qualify CREATE TABLE/TYPE with the keyspace; replace ``{keyspace}`` everywhere else."""
    statement = statement.replace("{keyspace}", keyspace)
    match = _CREATE_RE.match(statement)
    if match is None or match.group(4):
        return statement
    head = match.group(1) + (match.group(2) or "")
    return head + keyspace + "." + statement[len(head) :]


def drop_keyspace(session: Any, keyspace: str) -> None:
    """Drop a keyspace (tests use a fresh one per session)."""
    session.execute(f"DROP KEYSPACE IF EXISTS {check_keyspace_name(keyspace)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m fabric.storage.schema``."""
    from cassandra.cluster import Cluster

    parser = argparse.ArgumentParser(prog="python -m fabric.storage.schema", description=__doc__)
    parser.add_argument("--hosts", default="127.0.0.1", help="comma-separated contact points")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--keyspace", default="callfabric")
    parser.add_argument("--rf", type=int, default=1, help="replication factor")
    parser.add_argument("--datacenter", default="datacenter1")
    args = parser.parse_args(argv)
    cluster = Cluster(args.hosts.split(","), port=args.port)
    try:
        session = cluster.connect()
        versions = apply_schema(
            session, args.keyspace, replication_factor=args.rf, datacenter=args.datacenter
        )
    except SchemaError as exc:
        print(f"cluster.schema: {exc}", file=sys.stderr)
        return 2
    finally:
        cluster.shutdown()
    print(f"schema of {args.keyspace}: applied {versions or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``fabric`` command against a real fabric (Ray, gRPC over TLS, Cassandra): every verb
of every resource as a real process, JSON output parsed, and each case of issue 20 - no
silent overwrite, all-or-nothing composite commands, one-line messages naming the bad value
(and for credentials the role used and the role needed), bounded ``wav``, credentials found
from another folder (a ``fabric login`` profile, the record ``make up`` writes), a clear
message when the fabric is down.

Every command runs in a scratch folder (not the repository) with its own
``XDG_CONFIG_HOME`` and no ``FABRIC_TOKEN`` unless a test gives one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from calls_e2e_harness import ROOT, E2EFabric

from cluster.ports import free_tcp_port

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]

CLI = "fabric.client.cli"
WAIT_S = 60.0


@dataclass
class Run:
    """One finished ``fabric`` process."""

    rc: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.rc == 0, (self.out, self.err)
        return json.loads(self.out)

    def one_line_error(self, *names: str) -> str:
        """A non-zero exit with a short message naming each of ``names``, no traceback."""
        text = self.out + self.err
        assert self.rc != 0, text
        assert "Traceback" not in text, text
        for name in names:
            assert name in text, (name, text)
        return text


@dataclass
class Shell:
    """Runs ``fabric`` as a user would, from a scratch folder."""

    fabric: E2EFabric
    home: Path
    cwd: Path

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FABRIC_")}
        env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(self.home), **extra)
        if token is not None:
            env["FABRIC_TOKEN"] = token
        return env

    async def run(self, *args: str, token: str | None = None, where: bool = True,
                  stdin: bytes = b"", **extra: str) -> Run:
        """``fabric [--target T --ca CA] ARGS`` with ``token`` in $FABRIC_TOKEN."""
        head = ["--target", self.fabric.target, "--ca", str(self.fabric.ca_file)] if where else []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", CLI, *head, *args, cwd=self.cwd, env=self.env(token, **extra),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin), WAIT_S)
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), err.decode())

    def admin_key_file(self) -> Path:
        """A file with the harness's named carrier-admin key (as ``make up`` keeps one)."""
        path = self.home.parent / "carrier-admin.key"
        if not path.exists():
            path.write_text(self.fabric.operator_token + "\n")
            path.chmod(0o600)
        return path

    async def op(self, *args: str, **extra: str) -> Run:
        """As a carrier-admin (its key from a file, by --token-file); the operator token
        file is the bootstrap credential only."""
        return await self.run("--token-file", str(self.admin_key_file()), *args, **extra)

    async def bootstrap(self, *args: str, **extra: str) -> Run:
        """With the operator token file (the bootstrap credential), by --token-file."""
        return await self.run("--token-file", str(self.fabric.settings.api.operator_token_file),
                              *args, **extra)


@pytest_asyncio.fixture(loop_scope="module")
async def sh(e2e: E2EFabric, tmp_path: Path) -> Shell:
    (tmp_path / "cwd").mkdir()
    return Shell(e2e, tmp_path / "config", tmp_path / "cwd")


@dataclass
class Office:
    """A tenant made through the CLI: its id and owner key."""

    tenant_id: str
    owner: str


async def new_office(sh: Shell, name: str = "Acme") -> Office:
    made = (await sh.op("tenant", "add", name, "--plan", "pro", "-o", "json")).json()
    return Office(made["tenant"]["tenant_id"], made["owner_api_key"])


async def test_tenant_and_number_verbs(sh: Shell) -> None:
    o = await new_office(sh, "Verbs Inc")
    listed = (await sh.op("tenant", "list", "--output", "json")).json()
    assert o.tenant_id in [t["tenant_id"] for t in listed]
    got = (await sh.op("tenant", "get", o.tenant_id, "-o", "json")).json()
    assert got["name"] == "Verbs Inc" and got["plan"] == "PLAN_PRO"
    assert (await sh.op("tenant", "set", o.tenant_id, "--plan", "standard", "-o", "json")
            ).json()["plan"] == "PLAN_STANDARD"
    assert (await sh.op("tenant", "set", o.tenant_id, "--status", "suspended", "-o", "json")
            ).json()["status"] == "TENANT_STATUS_SUSPENDED"
    assert (await sh.op("tenant", "resume", o.tenant_id, "-o", "json")
            ).json()["status"] == "TENANT_STATUS_ACTIVE"
    numbers = (await sh.op("number", "add", o.tenant_id, "--count", "2", "-o", "json")).json()
    assert len(numbers) == 2
    assert (await sh.op("number", "list", "--tenant", o.tenant_id, "-o", "json")
            ).json() == numbers
    await sh.run("user", "add", "Front", "--ext", "201", token=o.owner)
    routed = await sh.run("number", "set", numbers[0], "--ext", "201", "-o", "json",
                          token=o.owner)
    assert routed.json()["extension"] == "201"
    routes = (await sh.run("number", "list", "-o", "json", token=o.owner)).json()
    assert {r["number"] for r in routes} == set(numbers)
    assert (await sh.run("number", "get", numbers[0], "-o", "json", token=o.owner)
            ).json()["extension"] == "201"
    released = await sh.op("number", "delete", o.tenant_id, numbers[1], "--yes")
    assert released.rc == 0, released.err
    assert (await sh.op("number", "list", "--tenant", o.tenant_id, "-o", "json")
            ).json() == numbers[:1]
    # `tenant close` (delete) cannot be undone: it asks, and without a terminal refuses
    refused = await sh.op("tenant", "close", o.tenant_id)
    refused.one_line_error("--yes")
    assert (await sh.op("tenant", "get", o.tenant_id, "-o", "json")
            ).json()["status"] == "TENANT_STATUS_ACTIVE"
    closed = await sh.op("tenant", "delete", o.tenant_id, "--yes", "-o", "json")
    assert closed.json()["status"] == "TENANT_STATUS_CLOSED"


async def test_users_extensions_groups_hours_keys(sh: Shell) -> None:
    o = await new_office(sh)
    own = {"token": o.owner}
    alice = (await sh.run("user", "add", "Alice", "--ext", "101", "--voicemail", "-o", "json",
                          **own)).json()
    assert alice["extension"]["voicemail"] is True
    await sh.run("user", "add", "Bob", "--ext", "102", **own)
    users = {u["name"]: u for u in (await sh.run("user", "list", "-o", "json", **own)).json()}
    assert users["Alice"]["extensions"] == ["101"] and users["Bob"]["extensions"] == ["102"]
    table = (await sh.run("user", "list", **own)).out
    assert "Alice" in table and "101" in table
    got = (await sh.run("user", "get", "Alice", "-o", "json", **own)).json()
    assert got["extensions"] == ["101"]
    exts = (await sh.run("ext", "list", "-o", "json", **own)).json()
    assert {e["extension"]: e["user_name"] for e in exts} == {"101": "Alice", "102": "Bob"}

    # no silent overwrite: taking 101 needs --force, and then keeps its settings
    await sh.run("ext", "set", "101", "--forward-no-answer", "102", **own)
    taken = await sh.run("user", "add", "Dave", "--ext", "101", **own)
    taken.one_line_error("101", "Alice", "--force")
    names = [u["name"] for u in (await sh.run("user", "list", "-o", "json", **own)).json()]
    assert "Dave" not in names
    forced = (await sh.run("user", "add", "Dave", "--ext", "101", "--force", "-o", "json",
                           **own)).json()
    assert forced["extension"]["forwarding"]["to_extension"] == "102"
    assert forced["extension"]["voicemail"] is True
    moved = await sh.run("ext", "set", "101", "--user", "Alice", **own)
    moved.one_line_error("--force")
    back = await sh.run("ext", "set", "101", "--user", "Alice", "--force", "-o", "json", **own)
    assert back.json()["user_id"] == alice["user"]["user_id"]
    dave = forced["user"]["user_id"]
    assert (await sh.run("user", "delete", dave, "--yes", **own)).rc == 0

    # recording can carry PHI: on the Pro plan it needs a BAA on file (issue 14)
    refused = await sh.run("ext", "set", "101", "--recording", **own)
    refused.one_line_error("baa-required")
    baa = await sh.op("compliance", "document", o.tenant_id, "--kind", "baa", "--signer",
                      "Dr. Lee", "--signed-on", "2026-11-02", "--reference", "baa-0042")
    assert baa.rc == 0 and "signed by Dr. Lee" in baa.out, baa.err
    # partial update: --recording leaves voicemail and forwarding alone
    rec = (await sh.run("ext", "set", "101", "--recording", "-o", "json", **own)).json()
    assert rec["recording"] and rec["voicemail"] and rec["forwarding"]["to_extension"] == "102"
    again = await sh.run("ext", "add", "102", "Bob", **own)
    again.one_line_error("102", "ext set")
    # all or nothing: a bad extension creates no user
    bad = await sh.run("user", "add", "Eve", "--ext", "10x", **own)
    bad.one_line_error("10x")
    assert bad.rc == 2
    names = [u["name"] for u in (await sh.run("user", "list", "-o", "json", **own)).json()]
    assert "Eve" not in names

    # outside forwarding: stored, shown, refused clearly when a call would use it
    fwd = (await sh.run("ext", "set", "102", "--forward-always", "+15550199999", "-o", "json",
                        **own)).json()
    assert fwd["forwarding"]["to_number"] == "+15550199999"
    assert "+15550199999" in (await sh.run("ext", "get", "102", **own)).out
    dial = await sh.run("call", "dial", "101", "102", **own)
    dial.one_line_error("no-carrier-trunk")
    await sh.run("ext", "set", "102", "--no-forward", **own)

    await sh.run("ext", "add", "103", "Bob", "--ring-timeout", "15", **own)
    group = await sh.run("group", "add", "sales", "101", "102", "-o", "json", **own)
    assert group.json()["extensions"] == ["101", "102"]
    (await sh.run("group", "add", "sales", "103", **own)).one_line_error("sales", "group set")
    changed = (await sh.run("group", "set", "sales", "--in-order", "--add", "103", "--remove",
                            "101", "-o", "json", **own)).json()
    assert changed["extensions"] == ["102", "103"] and changed["strategy"] == "RING_IN_ORDER"
    shared = (await sh.run("group", "set", "sales", "--voicemail", "101", "-o", "json",
                           **own)).json()  # 101 (voicemail on) is the group's shared mailbox
    assert shared["voicemail_extension"] == "101" and shared["extensions"] == ["102", "103"]
    (await sh.run("group", "set", "sales", "--voicemail", "103", **own)).one_line_error(
        "voicemail-off")
    listed = (await sh.run("group", "list", "-o", "json", **own)).json()
    assert [g["group_id"] for g in listed] == ["sales"]
    assert (await sh.run("group", "get", "sales", "-o", "json", **own)
            ).json()["ring_timeout_s"] == changed["ring_timeout_s"]

    hours = (await sh.run("hours", "set", "--timezone", "Europe/Paris", "--open",
                          "mon-fri 09:00-17:00", "--after-hours-group", "sales", "-o", "json",
                          **own)).json()
    assert hours["enabled"] and len(hours["open"]) == 5
    shown = (await sh.run("hours", "show", "-o", "json", **own)).json()
    assert shown["timezone"] == "Europe/Paris" and shown["after_hours_ring_group"] == "sales"
    in_use = await sh.run("group", "delete", "sales", "--yes", **own)
    in_use.one_line_error("ring-group-in-use")
    assert (await sh.run("hours", "delete", "--yes", **own)).rc == 0
    assert (await sh.run("group", "delete", "sales", "--yes", **own)).rc == 0
    assert (await sh.run("group", "list", "-o", "json", **own)).json() == []

    key = (await sh.run("key", "add", "Bob", "-o", "json", **own)).json()
    key_id = key["key"]["key_id"]
    keys = (await sh.run("key", "list", "-o", "json", **own)).json()
    assert key_id in [k["key_id"] for k in keys]
    assert (await sh.run("key", "get", key_id, "-o", "json", **own)).json()["user_id"] == (
        users["Bob"]["user_id"])
    # a member's key on an admin command: both roles named
    (await sh.run("user", "list", token=key["secret"])).one_line_error(
        "owner or admin", "tenant API key")
    assert (await sh.run("key", "revoke", key_id, "--yes", **own)).rc == 0
    (await sh.run("call", "list", token=key["secret"])).one_line_error("tenant API key")

    (await sh.run("ext", "delete", "102", "--yes", **own)).one_line_error("extension-in-use")
    assert (await sh.run("ext", "set", "101", "--no-forward", **own)).rc == 0
    assert (await sh.run("ext", "delete", "102", "--yes", **own)).rc == 0
    assert (await sh.run("ext", "delete", "103", "--yes", **own)).rc == 0
    assert (await sh.run("user", "delete", "Bob", "--yes", **own)).rc == 0
    exts = (await sh.run("ext", "list", "-o", "json", **own)).json()
    assert [e["extension"] for e in exts] == ["101"]


async def test_calls_phone_and_records(sh: Shell) -> None:
    o = await new_office(sh)
    own = {"token": o.owner}
    await sh.run("user", "add", "Alice", "--ext", "101", **own)
    await sh.run("user", "add", "Bob", "--ext", "102", **own)
    await sh.run("user", "add", "Carol", "--ext", "103", **own)
    phones = []
    for ext in ("102", "103"):
        head = ["--target", sh.fabric.target, "--ca", str(sh.fabric.ca_file)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", CLI, "phone", ext, *head, cwd=sh.cwd, env=sh.env(o.owner),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
        assert line.startswith(b"registered " + ext.encode()), line
        phones.append(proc)
    try:
        call = (await sh.run("call", "dial", "101", "102", "-o", "json", **own)).json()
        assert "media" not in call
        cid = call["call_id"]
        assert (await sh.run("call", "answer", cid, "102", "-o", "json", **own)
                ).json()["state"] == "CALL_STATE_ANSWERED"
        assert (await sh.run("call", "hold", cid, "-o", "json", **own)
                ).json()["state"] == "CALL_STATE_HELD"
        assert (await sh.run("call", "resume", cid, "-o", "json", **own)
                ).json()["state"] == "CALL_STATE_ANSWERED"
        active = (await sh.run("call", "list", "-o", "json", **own)).json()
        assert cid in [c["call_id"] for c in active]
        assert (await sh.run("call", "get", cid, "-o", "json", **own)
                ).json()["answered_by"] == "102"
        transferred = await sh.run("call", "transfer", cid, "103", **own)
        assert transferred.rc == 0, transferred.err
        assert (await sh.run("call", "hangup", cid, "-o", "json", **own)
                ).json()["state"] == "CALL_STATE_ENDED"
        second = (await sh.run("call", "dial", "101", "102", "-o", "json", **own)).json()
        assert (await sh.run("call", "reject", second["call_id"], "102", "-o", "json", **own)
                ).rc == 0
    finally:
        for proc in phones:
            proc.terminate()
            await proc.wait()

    async def recorded() -> list[dict[str, Any]]:
        records = (await sh.run("cdr", "list", "-o", "json", "--tz", "Europe/Paris", **own)
                   ).json()
        assert cid in [r["call_id"] for r in records]
        return list(records)

    from fabric.testing import eventually

    await eventually(recorded, WAIT_S, 0.5, what="the call's CDR")
    cdr = (await sh.run("cdr", "show", cid, "-o", "json", **own)).json()
    assert cdr["call_id"] == cid
    text = (await sh.run("cdr", "list", "--tz", "Asia/Tokyo", **own)).out
    assert "started (Asia/Tokyo)" in text


async def test_bad_input_is_one_line_naming_the_value(sh: Shell, tmp_path: Path) -> None:
    o = await new_office(sh)
    own = {"token": o.owner}
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("number", "add", o.tenant_id, "--count", "-3"), ("-3", "--count")),
        (("cdr", "list", "--limit", "-1"), ("-1", "--limit")),
        (("--config", "missing.toml", "cdr", "list"), ("missing.toml",)),
        (("wav", "/nonexistent/x.wav"), ("/nonexistent",)),
        (("wav", str(tmp_path / "x.wav"), "--seconds", "100000"), ("100000", "--seconds")),
        (("wav", str(tmp_path / "x.wav"), "--seconds", "-1"), ("-1", "--seconds")),
        (("call", "dial", "101", "102", "--record", "/nonexistent/dir/x.wav"),
         ("/nonexistent/dir",)),
        (("call", "dial", "101", "102", "--wav", str(ROOT / "README.md")),
         ("README.md", "RIFF")),
        (("user", "add", "Eve", "--ext", "10x"), ("10x",)),
        (("--tz", "Mars/Olympus", "cdr", "list"), ("Mars/Olympus",)),
        (("call", "dial", "101", "+12"), ("+12",)),
        (("hours", "set", "--open", "mon-fri 9-5"), ("mon-fri 9-5",)),
        (("ext", "get", "999"), ("999",)),
        (("user", "get", "Nobody"), ("Nobody",)),
    ]
    for args, names in cases:
        (await sh.run(*args, **own)).one_line_error(*names)
    assert not (tmp_path / "x.wav").exists()
    made = await sh.run("wav", str(tmp_path / "ok.wav"), "--seconds", "0.5")
    assert made.rc == 0 and (tmp_path / "ok.wav").stat().st_size == 44 + 4000
    # the default test tone lands where asked, never in the repository
    assert not (ROOT / "ok.wav").exists()


async def test_credentials_and_targets(sh: Shell, tmp_path: Path) -> None:
    o = await new_office(sh)
    # a tenant command with a carrier-admin's key: both roles named, before any call
    (await sh.op("user", "list")).one_line_error("owner or admin", "carrier operator")
    # a carrier command with a tenant key
    (await sh.run("tenant", "list", token=o.owner)).one_line_error(
        "carrier-admin", o.tenant_id)
    # the operator token is the bootstrap credential: operators yes, tenants no
    assert (await sh.bootstrap("operator", "list", "-o", "json")).rc == 0
    (await sh.bootstrap("tenant", "list")).one_line_error("bootstrap", "carrier-admin")
    # global flags after the subcommand
    after = await sh.run("user", "list", "--output", "json", token=o.owner, where=False,
                         FABRIC_TARGET=sh.fabric.target)
    after.one_line_error("CA")  # no CA known from this folder: says so, no traceback
    ok = await sh.run("user", "list", "-o", "json", "--ca", str(sh.fabric.ca_file),
                      token=o.owner, where=False, FABRIC_TARGET=sh.fabric.target)
    assert [u["name"] for u in ok.json()] == ["Owner"]
    # `fabric login` stores a profile; later commands from any folder need nothing else
    login = await sh.run("login", "--profile", "acme", token=o.owner)
    assert login.rc == 0, login.err
    cfg = sh.home / "fabric"
    assert (cfg / "acme.key").stat().st_mode & 0o777 == 0o600
    assert (cfg / "config.json").stat().st_mode & 0o777 == 0o600
    assert o.owner not in login.out + login.err
    users = await sh.run("user", "list", "-o", "json", where=False)
    assert [u["name"] for u in users.json()] == ["Owner"]
    profiles = (await sh.run("profile", "list", "-o", "json", where=False)).json()
    assert profiles == [{"name": "acme", "current": True, "target": sh.fabric.target,
                         "ca": str(sh.fabric.ca_file.resolve()), "insecure": False}]
    assert (await sh.run("logout", where=False)).rc == 0
    assert not (cfg / "acme.key").exists()
    # what `make up` records: the operator finds its fabric from any folder
    from fabric.client.cli.profiles import LocalFabric

    record = LocalFabric(target=sh.fabric.target, ca=str(sh.fabric.ca_file),
                         operator_token_file=str(sh.fabric.settings.api.operator_token_file),
                         operator_key_file=str(sh.admin_key_file()))
    (cfg / "local.json").write_text(json.dumps(record.__dict__))
    listed = (await sh.run("tenant", "list", "-o", "json", where=False)).json()
    assert o.tenant_id in [t["tenant_id"] for t in listed]
    # the fabric down: says so, with a hint
    down = await sh.op("--target", f"localhost:{free_tcp_port()}", "tenant", "list")
    down.one_line_error("not reachable", "make up")


async def test_operators_and_the_audit_log(sh: Shell) -> None:
    o = await new_office(sh, "Audited")
    made = (await sh.op("operator", "add", "Sam Support", "--role", "support", "-o", "json")
            ).json()
    support, op_id = made["api_key"], made["operator"]["operator_id"]
    seen = (await sh.run("tenant", "get", o.tenant_id, "-o", "json", token=support)).json()
    assert seen["tenant_id"] == o.tenant_id
    # support may not change a tenant nor read its content
    (await sh.run("tenant", "suspend", o.tenant_id, token=support)).one_line_error(
        "role-not-allowed")
    # the tenant's owner sees support's read in its own log, then verifies the log
    log = (await sh.run("audit", "list", "--method", "GetTenant", "-o", "json", token=o.owner)
           ).json()
    assert [(e["principal"], e["role"], e["outcome"]) for e in log] == [
        (op_id, "support", "OK")]
    verified = await sh.run("audit", "verify", token=o.owner)
    assert verified.rc == 0 and "intact" in verified.out, verified.err
    carrier = (await sh.op("audit", "list", "--tenant", "carrier", "--principal", op_id,
                           "-o", "json")).json()
    assert {e["method"].rpartition("/")[2] for e in carrier} == {"GetTenant", "SuspendTenant"}
    assert (await sh.op("operator", "delete", op_id, "--yes")).rc == 0

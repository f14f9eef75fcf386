"""Privacy end to end: the Privacy service over gRPC+TLS on a real local Ray cluster and the
real Cassandra node, driven by the SDK's PrivacyClient (as the CLI does).

Checked: a whole-tenant and a subject export written to a file (every file's SHA-256 and the
zip's match the server's), erasure keeps the CDR and says so, correction through
TenantAdmin.UpdateUser, a restriction listed, the role table (a member refused, another
tenant's subject absent), and the carrier's export of a closed tenant (refused while open).
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from calls_e2e_harness import E2EFabric

from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.cdr import Cdr, Direction, Disposition
from fabric.client.privacy import PrivacyClient
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied
from fabric.vault.content import VOICEMAIL

pytestmark = [pytest.mark.ray, pytest.mark.cassandra, pytest.mark.asyncio(loop_scope="module")]

OUTSIDE = "+15550100777"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenant(e2e: E2EFabric) -> AsyncIterator[dict[str, Any]]:
    """A tenant with a user, a CDR and a voicemail naming an outside number."""
    op = e2e.client()
    made = await op.create_tenant("Privacy Co")
    owner = op.with_token(made.owner_api_key)
    alice = await owner.create_user("Alice Able")
    await owner.put_extension("101", alice.user_id)
    tid = made.tenant.tenant_id
    start = datetime.now(UTC) - timedelta(minutes=5)
    await e2e.cdrs.write(Cdr(
        call_id=f"call-{uuid.uuid4().hex}", tenant_id=tid, from_number=OUTSIDE,
        to_number="101", direction=Direction.INBOUND, start_time=start, answer_time=start,
        end_time=start + timedelta(seconds=20), duration_s=20, billable_s=20,
        disposition=Disposition.ANSWERED, hangup_cause="normal-clearing"))
    assert e2e.stores.content is not None
    await e2e.stores.content.put(tid, VOICEMAIL, "vm-101-1", b"\x00\x01" * 800,
                                 {"subjects": f"{alice.user_id},{OUTSIDE}"})
    yield {"op": op, "owner": owner, "tid": tid, "alice": alice.user_id}


def _zip_ok(path: Path, summary: api_privacy.ExportSummary) -> dict[str, Any]:
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == summary.zip_sha256
    z = zipfile.ZipFile(path)
    manifest = json.loads(z.read("manifest.json"))
    for f in manifest["files"]:
        assert hashlib.sha256(z.read(f["path"])).hexdigest() == f["sha256"]
    return manifest


async def test_export_erase_correct_restrict_over_the_api(
    tenant: dict[str, Any], tmp_path: Path
) -> None:
    privacy = PrivacyClient(tenant["owner"])
    seen: list[str] = []
    summary = await privacy.export_to_file(tmp_path / "all.zip",
                                           on_progress=lambda p: seen.append(p.phase))
    manifest = _zip_ok(tmp_path / "all.zip", summary)
    assert manifest["counts"]["cdr"] == 1 and manifest["counts"][VOICEMAIL] == 1
    assert "cdrs" in seen and not (tmp_path / "all.zip.part").exists()

    summary = await privacy.export_to_file(tmp_path / "caller.zip", OUTSIDE)
    assert _zip_ok(tmp_path / "caller.zip", summary)["subject"]["id"] == OUTSIDE

    corrected = await privacy.correct(api_privacy.CorrectRequest(user=api_privacy.CorrectUser(
        user_id=tenant["alice"], name="Alice Abel", email="alice@example.com")))
    assert corrected.user.name == "Alice Abel"
    users = await tenant["owner"].list_users()
    assert next(u for u in users if u.user_id == tenant["alice"]).email == "alice@example.com"

    r = await privacy.restrict(OUTSIDE)
    assert r.restriction.restricted
    assert OUTSIDE in {x.subject for x in (await privacy.restrictions()).restrictions}

    erased = await privacy.erase(OUTSIDE)
    assert erased.deleted[VOICEMAIL] == 1
    assert erased.kept[0].data_class == "cdr" and erased.kept[0].count == 1
    assert "7 years" in erased.kept[0].reason
    kinds = {x.kind for x in (await privacy.requests()).requests}
    assert {api_privacy.REQUEST_EXPORT, api_privacy.REQUEST_ERASE,
            api_privacy.REQUEST_CORRECT, api_privacy.REQUEST_RESTRICT} <= kinds


async def test_members_other_tenants_and_the_carrier(
    tenant: dict[str, Any], e2e: E2EFabric, tmp_path: Path
) -> None:
    owner, op = tenant["owner"], tenant["op"]
    bob = await owner.create_user("Bob", api_common.ROLE_MEMBER)
    member = op.with_token((await owner.create_api_key(bob.user_id)).secret)
    with pytest.raises(PermissionDenied):
        await PrivacyClient(member).requests()
    other = await op.create_tenant("Other Co")
    stranger = PrivacyClient(op.with_token(other.owner_api_key))
    for subject in (tenant["alice"], OUTSIDE):
        with pytest.raises(NotFound) as info:
            await stranger.erase(subject)
        assert info.value.error_id == "subject-not-found"
    carrier = PrivacyClient(op)
    with pytest.raises(FailedPrecondition):  # an open tenant exports with its own keys
        await carrier.export_to_file(tmp_path / "no.zip", tenant_id=other.tenant.tenant_id)
    await op.close_tenant(other.tenant.tenant_id)
    summary = await carrier.export_to_file(tmp_path / "closed.zip",
                                           tenant_id=other.tenant.tenant_id)
    assert _zip_ok(tmp_path / "closed.zip", summary)["tenant_id"] == other.tenant.tenant_id
    policy = await carrier.retention(other.tenant.tenant_id)
    assert policy.account_after_closure_days == 90

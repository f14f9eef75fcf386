"""The bootstrap step ``make up`` runs (fabric/client/bootstrap.py), over a real gRPC API:
the operator token, by default the bootstrap credential only, makes a named carrier-admin
whose key is kept in a private file, reused while it works and replaced once revoked; the
key does tenant work the token may not. The opt-out (``operator_token_bootstrap_only =
false``) gives the token its old powers back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from edge_harness import EdgeApiFactory

from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc
from fabric.client import FabricClient
from fabric.client.bootstrap import carrier_admin_key_file, ensure_carrier_admin
from fabric.errors import FabricError


async def test_make_up_s_carrier_admin_is_made_once_kept_private_and_replaced_when_revoked(
    edge_api: EdgeApiFactory, tmp_path: Path
) -> None:
    api = await edge_api(key_cache_s=0.0)
    token_file = tmp_path / "operator.token"
    token = token_file.read_text().strip()
    key_file = carrier_admin_key_file(token_file)
    assert key_file == tmp_path / "carrier-admin.key"
    key = await ensure_carrier_admin(api.target, token, key_file, ca_file=None, name="alice")
    assert key.startswith("fk_carrier.") and key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert await ensure_carrier_admin(api.target, token, key_file, ca_file=None,
                                      name="alice") == key  # a second `make up` reuses it
    async with FabricClient(api.target, token) as bootstrap:
        with pytest.raises(FabricError) as refused:
            await bootstrap.create_tenant("Token Co")
        assert refused.value.error_id == "role-not-allowed"
        assert "carrier-admin" in refused.value.message
        ops = audit_pb2_grpc.OperatorsStub(bootstrap.channel)
        listed = await bootstrap.call(ops.ListOperators, api_audit.ListOperatorsRequest())
        mine = [o for o in listed.operators if o.name == "alice"]
        assert len(mine) == 1 and mine[0].role == api_audit.OPERATOR_ROLE_CARRIER_ADMIN
        async with FabricClient(api.target, key) as admin:
            made = await admin.create_tenant("Admin Co")
            assert made.tenant.tenant_id.startswith("t-")
        await bootstrap.call(ops.RevokeOperator, api_audit.RevokeOperatorRequest(
            operator_id=mine[0].operator_id))
    again = await ensure_carrier_admin(api.target, token, key_file, ca_file=None, name="alice")
    assert again != key and key_file.read_text().strip() == again


async def test_the_opt_out_lets_the_token_do_tenant_work(
    edge_api: EdgeApiFactory, tmp_path: Path
) -> None:
    api = await edge_api(operator_token_bootstrap_only=False)
    token = (tmp_path / "operator.token").read_text().strip()
    async with FabricClient(api.target, token) as old_script:
        made = await old_script.create_tenant("Script Co")
    assert made.tenant.tenant_id.startswith("t-")

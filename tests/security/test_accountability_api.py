"""The audit trail over real gRPC (an in-process API on the in-process actor system with
the embedded stores: SQLite audit log, state and content): the role table walked method by
method proves every RPC that touches tenant data writes an entry; carrier staff are named
operators whose reads of a tenant's metadata show in that tenant's log; support staff reach
no content; the log verifies; the HIPAA gate refuses recording on Pro without a BAA."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from edge_harness import DictCdrStore
from google.protobuf import descriptor_pool, message_factory

from actors.api.roles import ROLES
from actors.api.server import start_api
from actors.call import CallActor
from actors.call_index import ActiveCallIndex
from actors.call_metrics import CallMetrics
from actors.compliance.records import ComplianceRecords
from actors.number import NumberDirectory
from actors.privacy import PrivacyActor, PrivacyIndex
from actors.tenant import TenantActor
from cluster.ports import free_tcp_port
from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import audit_pb2_grpc, carrier_pb2_grpc, tenant_pb2_grpc
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.audit.chain import verify_log
from fabric.audit.entry import CARRIER_LOG, AuditEntry
from fabric.audit.objects import NOT_AUDITED
from fabric.audit.store import AuditQuery, AuditStore
from fabric.config import (
    CallSettings,
    FabricSettings,
    LimitsSettings,
    StorageSettings,
    VaultSettings,
)
from fabric.edge.auth import Role
from fabric.storage.base import CdrStore
from fabric.storage.factory import open_stores
from fabric.systems import LocalActorSystem
from fabric.vault.content import ContentStore
from fabric.vault.vault import Vault

CONTENT_SERVICES = ("Voicemail", "Recordings", "Messaging", "Records", "Calls", "TenantAdmin")
"""Services that return a tenant's content or personal data: no carrier staff role may call
any of their methods (support sees tenant metadata, never content)."""


class Api(SimpleNamespace):
    """The running API, its audit store and credentials."""

    target: str
    audit: AuditStore
    operator_token: str  # the bootstrap credential: it manages operators only
    channel: grpc.aio.Channel
    carrier_admin: str = ""  # a named carrier-admin's key (made with the token): tenant work
    carrier_admin_id: str = ""


@pytest.fixture
async def api(tmp_path: Path, embedded_settings: StorageSettings) -> AsyncIterator[Api]:
    settings = FabricSettings(
        api={"host": "127.0.0.1", "port": free_tcp_port(), "tls": False,
             "operator_token_file": tmp_path / "operator.token", "key_cache_s": 0.0},
        metrics={"port": 0})
    stores = await open_stores(embedded_settings, sweep=False, vault_settings=VaultSettings(
        root_key_file=tmp_path / "root.key"))
    cdrs = DictCdrStore()
    system = LocalActorSystem(
        [TenantActor, CallActor, NumberDirectory, ActiveCallIndex, PrivacyActor, PrivacyIndex],
        state_store=stores.state, reminder_store=stores.reminders,
        services={CdrStore: cdrs, CallMetrics: CallMetrics(), CallSettings: settings.calls,
                  LimitsSettings: settings.limits, ContentStore: stores.content,
                  Vault: stores.vault, ComplianceRecords: ComplianceRecords(stores.state)})
    await system.start()
    stores.cdr = cdrs  # type: ignore[assignment]
    gateway = await start_api(system, settings, stores)
    target = f"127.0.0.1:{gateway.port}"
    channel = grpc.aio.insecure_channel(target)
    token = (tmp_path / "operator.token").read_text().strip()
    try:
        made = await audit_pb2_grpc.OperatorsStub(channel).CreateOperator(
            api_audit.CreateOperatorRequest(
                name="Carla Admin", role=api_audit.OPERATOR_ROLE_CARRIER_ADMIN),
            metadata=_md(token))
        yield Api(target=target, audit=stores.audit, channel=channel, cdrs=cdrs,
                  operator_token=token, carrier_admin=made.api_key,
                  carrier_admin_id=made.operator.operator_id)
    finally:
        await channel.close()
        await gateway.stop()
        await system.stop()
        await stores.close()


async def _log(api: Api, log_id: str) -> list[AuditEntry]:
    """The whole log, in writing order (one writer stream in this test)."""
    return [e async for e in api.audit.entries(log_id)]


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _call(api: Api, method: str, token: str, request: Any) -> grpc.StatusCode:
    """Call any method of the API by its full name; its status code."""
    desc = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    out_cls = message_factory.GetMessageClass(desc.output_type)
    kwargs: dict[str, Any] = {"request_serializer": lambda m: m.SerializeToString(),
                              "response_deserializer": out_cls.FromString}
    try:
        if desc.client_streaming and desc.server_streaming:
            async def one() -> AsyncIterator[Any]:
                yield request
            call: Any = api.channel.stream_stream(method, **kwargs)(one(), metadata=_md(token),
                                                                     timeout=5)
            with contextlib.suppress(grpc.aio.AioRpcError):
                await call.read()
            call.cancel()
            return grpc.StatusCode.CANCELLED
        if desc.server_streaming:
            async for _ in api.channel.unary_stream(method, **kwargs)(
                    request, metadata=_md(token), timeout=5):
                pass
            return grpc.StatusCode.OK
        await api.channel.unary_unary(method, **kwargs)(request, metadata=_md(token), timeout=5)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


def _request(method: str, tenant_id: str) -> Any:
    desc = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    request = message_factory.GetMessageClass(desc.input_type)()
    if "tenant_id" in desc.input_type.fields_by_name:
        request.tenant_id = tenant_id
    return request


async def _tenant(api: Api, name: str = "Acme",
                  plan: Any = api_carrier.PLAN_STANDARD) -> api_carrier.CreateTenantResponse:
    stub = carrier_pb2_grpc.CarrierAdminStub(api.channel)
    return await stub.CreateTenant(api_carrier.CreateTenantRequest(name=name, plan=plan),
                                   metadata=_md(api.carrier_admin))


async def _operator(api: Api, role: int, name: str = "Sam Support") -> str:
    stub = audit_pb2_grpc.OperatorsStub(api.channel)
    made = await stub.CreateOperator(api_audit.CreateOperatorRequest(name=name, role=role),
                                     metadata=_md(api.operator_token))
    return made.api_key


async def test_every_rpc_that_touches_tenant_data_writes_an_entry(api: Api) -> None:
    tenant = await _tenant(api)
    owner, tenant_id = tenant.owner_api_key, tenant.tenant.tenant_id
    admin_key = await _operator(api, api_audit.OPERATOR_ROLE_CARRIER_ADMIN, "Cara Admin")
    victim = (await _tenant(api, "Suspended later")).tenant.tenant_id  # carrier methods' target
    walked = 0
    for method, roles in sorted(ROLES.items()):
        if method in NOT_AUDITED:
            continue
        if Role.OWNER in roles:
            token, log_id, target = owner, tenant_id, tenant_id
        elif Role.CARRIER_ADMIN in roles:
            token, log_id, target = admin_key, CARRIER_LOG, victim
        else:
            raise AssertionError(f"{method}: no role of this test may call it")
        before = len(await _log(api, log_id))
        code = await _call(api, method, token, _request(method, target))
        entries = (await _log(api, log_id))[before:]
        assert [e.method for e in entries] == [method], (method, code)
        entry = entries[0]
        assert entry.outcome == code.name or code == grpc.StatusCode.OK
        assert entry.peer.startswith("127.0.0.1") and entry.key_id and entry.role
        assert entry.at_us and entry.hash and entry.action in (
            "read", "change", "delete", "export", "admin")
        if log_id == CARRIER_LOG and "tenant_id" in _request(method, "x").DESCRIPTOR.fields_by_name:
            assert (await _log(api, victim))[-1].method == method  # the tenant's log too
        walked += 1
    assert walked >= 30
    for log_id in (tenant_id, CARRIER_LOG):
        verdict = await verify_log(api.audit, log_id, time.time())
        assert verdict.ok, verdict.problems


async def test_support_reading_metadata_shows_in_the_tenants_log(api: Api) -> None:
    tenant = await _tenant(api, "Clinic")
    tenant_id = tenant.tenant.tenant_id
    support = await _operator(api, api_audit.OPERATOR_ROLE_SUPPORT)
    carrier = carrier_pb2_grpc.CarrierAdminStub(api.channel)
    got = await carrier.GetTenant(api_carrier.TenantRef(tenant_id=tenant_id),
                                  metadata=_md(support))
    assert got.tenant_id == tenant_id
    # support may not change a tenant
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carrier.SuspendTenant(api_carrier.TenantRef(tenant_id=tenant_id),
                                    metadata=_md(support))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # the tenant's owner sees both in their own log, named by operator, role and key
    audit = audit_pb2_grpc.AuditStub(api.channel)
    page = await audit.QueryAuditLog(api_audit.QueryAuditLogRequest(limit=10),
                                     metadata=_md(tenant.owner_api_key))
    mine = [e for e in page.entries if e.role == "support"]
    assert [(e.method.rpartition("/")[2], e.outcome) for e in mine] == [
        ("SuspendTenant", "PERMISSION_DENIED"), ("GetTenant", "OK")]
    assert all(e.principal.startswith("op-") and e.key_id and e.object_id == tenant_id
               for e in mine)
    other = await _tenant(api, "Other")
    theirs = await audit.QueryAuditLog(api_audit.QueryAuditLogRequest(tenant_id=tenant_id),
                                       metadata=_md(other.owner_api_key))
    assert all(e.log_id == other.tenant.tenant_id for e in theirs.entries)  # never another's
    verdict = await audit.VerifyAuditLog(api_audit.VerifyAuditLogRequest(),
                                         metadata=_md(tenant.owner_api_key))
    assert verdict.ok and verdict.entries >= 2


async def test_a_revoked_operator_key_stops_working(api: Api) -> None:
    support = await _operator(api, api_audit.OPERATOR_ROLE_SUPPORT)
    ops = audit_pb2_grpc.OperatorsStub(api.channel)
    listed = await ops.ListOperators(api_audit.ListOperatorsRequest(),
                                     metadata=_md(api.operator_token))
    (op,) = [o for o in listed.operators if o.role == api_audit.OPERATOR_ROLE_SUPPORT]
    await ops.RevokeOperator(api_audit.RevokeOperatorRequest(operator_id=op.operator_id),
                             metadata=_md(api.operator_token))
    carrier = carrier_pb2_grpc.CarrierAdminStub(api.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carrier.ListTenants(api_carrier.ListTenantsRequest(), metadata=_md(support))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_support_staff_cannot_reach_content(api: Api) -> None:
    for method, roles in ROLES.items():
        service = method.split("/")[1].rpartition(".")[2]
        if service in CONTENT_SERVICES:
            assert not roles & {Role.SUPPORT, Role.BILLING}, method
    tenant = await _tenant(api, "Private")
    support = await _operator(api, api_audit.OPERATOR_ROLE_SUPPORT)
    for method in ROLES:
        if method.split("/")[1].rpartition(".")[2] in CONTENT_SERVICES:
            code = await _call(api, method, support, _request(method, tenant.tenant.tenant_id))
            assert code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.CANCELLED), method
    refused = await api.audit.query(CARRIER_LOG, AuditQuery(outcome="PERMISSION_DENIED",
                                                             limit=1000))
    assert len(refused.entries) >= 20


async def _error_id(call: Any) -> str:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return dict(exc.trailing_metadata() or ()).get("fabric-error-id", exc.code().name)
    return ""


async def test_hipaa_gate_over_the_api(api: Api) -> None:
    compliance = audit_pb2_grpc.ComplianceStub(api.channel)
    admin = tenant_pb2_grpc.TenantAdminStub(api.channel)
    baa = api_audit.ComplianceDocument(kind=api_audit.DOCUMENT_KIND_BAA, signer="Dr. Lee",
                                       signed_on="2026-11-02", reference="baa/0042.pdf")
    outcomes = {}
    for plan_name, plan in (("standard", api_carrier.PLAN_STANDARD),
                            ("pro", api_carrier.PLAN_PRO)):
        for with_baa in (False, True):
            made = await _tenant(api, f"{plan_name} {with_baa}", plan)
            owner = _md(made.owner_api_key)
            if with_baa:
                record = await compliance.RecordDocument(api_audit.RecordDocumentRequest(
                    tenant_id=made.tenant.tenant_id, document=baa),
                    metadata=_md(api.carrier_admin))
                assert record.documents[0].recorded_by == api.carrier_admin_id  # a person
            user = await admin.CreateUser(api_tenant.CreateUserRequest(name="Dr. Who"),
                                          metadata=owner)
            put = admin.PutExtension(api_tenant.PutExtensionRequest(extension=api_tenant.Extension(
                extension="101", user_id=user.user_id,
                recording_policy=api_tenant.RECORDING_ALWAYS)), metadata=owner)
            hipaa = compliance.SetHipaaMode(api_audit.SetHipaaModeRequest(on=True),
                                            metadata=owner)
            outcomes[(plan_name, with_baa)] = (await _error_id(put), await _error_id(hipaa))
    assert outcomes == {
        ("standard", False): ("", "hipaa-needs-pro"),
        ("standard", True): ("", "hipaa-needs-pro"),
        ("pro", False): ("baa-required", "baa-required"),
        ("pro", True): ("", ""),
    }


async def test_a_tenant_export_holds_its_audit_log(api: Api) -> None:
    import io
    import json
    import zipfile

    from fabric.api.v1 import privacy_pb2 as api_privacy
    from fabric.api.v1 import privacy_pb2_grpc

    tenant = await _tenant(api, "Exported")
    owner = _md(tenant.owner_api_key)
    support = await _operator(api, api_audit.OPERATOR_ROLE_SUPPORT)
    await carrier_pb2_grpc.CarrierAdminStub(api.channel).GetTenant(
        api_carrier.TenantRef(tenant_id=tenant.tenant.tenant_id), metadata=_md(support))
    data = b""
    async for event in privacy_pb2_grpc.PrivacyStub(api.channel).Export(
            api_privacy.ExportRequest(), metadata=owner, timeout=30):
        if event.WhichOneof("event") == "data":
            data += event.data.chunk
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        lines = z.read("audit/audit.jsonl").decode().splitlines()
        manifest = json.loads(z.read("manifest.json"))
    entries = [json.loads(line) for line in lines]
    assert [(e["role"], e["method"].rpartition("/")[2]) for e in entries] == [
        ("support", "GetTenant")]
    assert manifest["counts"]["audit-entry"] == 1
    # the export itself is in the log now, with its requester
    page = await audit_pb2_grpc.AuditStub(api.channel).QueryAuditLog(
        api_audit.QueryAuditLogRequest(method="Export"), metadata=owner)
    assert [(e.role, e.action, e.key_id != "") for e in page.entries] == [("owner", "export", True)]


async def test_billing_reads_cdr_metadata_without_numbers(api: Api, make_cdr: Any) -> None:
    tenant = await _tenant(api, "Billed")
    tenant_id = tenant.tenant.tenant_id
    cdr = make_cdr(tenant_id=tenant_id)
    await api.cdrs.write(cdr)
    billing = await _operator(api, api_audit.OPERATOR_ROLE_BILLING, "Bea Billing")
    got = await audit_pb2_grpc.BillingStub(api.channel).QueryUsage(
        api_audit.QueryUsageRequest(tenant_id=tenant_id, since_ms=1), metadata=_md(billing))
    [record] = got.records
    assert (record.call_id, record.billable_s, record.disposition) == (
        cdr.call_id, cdr.billable_s, "answered")
    assert cdr.from_number not in str(got) and cdr.to_number not in str(got)
    # billing reads no content and no tenant's audit log
    for method in ("/fabric.api.v1.Records/GetCdr", "/fabric.api.v1.Audit/QueryAuditLog"):
        assert await _call(api, method, billing, _request(method, tenant_id)) == \
            grpc.StatusCode.PERMISSION_DENIED
    # the tenant sees who read its billing data
    page = await audit_pb2_grpc.AuditStub(api.channel).QueryAuditLog(
        api_audit.QueryAuditLogRequest(method="QueryUsage"), metadata=_md(tenant.owner_api_key))
    assert [(e.role, e.outcome) for e in page.entries] == [("billing", "OK")]


async def test_the_operator_token_is_the_bootstrap_credential_only(api: Api) -> None:
    """By default (api.operator_token_bootstrap_only) the token manages operators and
    nothing else: tenant work needs a named carrier-admin, so every action names a person."""
    carrier = carrier_pb2_grpc.CarrierAdminStub(api.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await carrier.CreateTenant(api_carrier.CreateTenantRequest(name="Token Co"),
                                   metadata=_md(api.operator_token))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await audit_pb2_grpc.OperatorsStub(api.channel).ListOperators(
        api_audit.ListOperatorsRequest(), metadata=_md(api.operator_token))
    assert api.carrier_admin_id in [o.operator_id for o in listed.operators]
    made = await _tenant(api, "Admin Co")  # the carrier-admin's key does tenant work
    assert made.tenant.tenant_id.startswith("t-")

"""Which logs one RPC's entry goes to: the caller's tenant; carrier staff: the carrier's log
and the tenant the request names (once, also when that is the carrier's log itself)."""

from __future__ import annotations

from fabric.api.v1 import audit_pb2 as api_audit
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.audit.chain import AuditWriter
from fabric.audit.recorder import AuditRecorder
from fabric.audit.store import MemoryAuditStore
from fabric.edge.auth import Principal, Role


async def test_entries_go_to_the_right_logs() -> None:
    store = MemoryAuditStore()
    recorder = AuditRecorder(AuditWriter(store))
    staff = Principal(Role.SUPPORT, "", "op-1", "k1")
    owner = Principal(Role.OWNER, "t-1", "u-1", "k2")
    await recorder.record("/fabric.api.v1.CarrierAdmin/GetTenant", staff,
                          api_carrier.TenantRef(tenant_id="t-1"), "10.0.0.1", "OK")
    await recorder.record("/fabric.api.v1.Audit/QueryAuditLog", staff,
                          api_audit.QueryAuditLogRequest(tenant_id="carrier"), "10.0.0.1", "OK")
    await recorder.record("/fabric.api.v1.Audit/QueryAuditLog", owner,
                          api_audit.QueryAuditLogRequest(tenant_id="t-2"), "10.0.0.2", "OK")
    assert sorted(store.rows) == ["carrier", "t-1"]
    assert [e.method.rpartition("/")[2] for e in store.rows["carrier"]] == [
        "GetTenant", "QueryAuditLog"]
    tenant = store.rows["t-1"]
    assert [(e.principal, e.role, e.object_id) for e in tenant] == [
        ("op-1", "support", "t-1"), ("u-1", "owner", "t-2")]
    assert not await recorder.record("/fabric.api.v1.Calls/Dial", owner, None, "x", "OK")

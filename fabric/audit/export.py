"""A tenant's audit log for its data export, and entries as plain dicts/JSON lines."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fabric.audit.entry import AuditEntry
from fabric.audit.store import AuditStore


async def read_tenant_log(store: AuditStore, tenant_id: str) -> AsyncIterator[AuditEntry]:
    """Every entry of the tenant's audit log (by writer stream, then seq): for the export."""
    async for entry in store.entries(tenant_id):
        yield entry


async def tenant_log_jsonl(store: AuditStore, tenant_id: str) -> AsyncIterator[bytes]:
    """The tenant's audit log as JSON lines (one entry per line, UTF-8)."""
    async for entry in read_tenant_log(store, tenant_id):
        yield (entry.to_json() + "\n").encode()

"""A CDR store that counts its writes: the embedded backend's half of the CDR metrics.

On Cassandra the spool (``fabric.storage.spool``) counts every write (written, spooled,
failed) and its latency; the embedded store has no spool, so this wrapper counts the same
``fabric_cdr_writes_total`` outcomes and ``fabric_cdr_write_latency_seconds`` for it, and
the CDR alerts read the same series on every backend.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from fabric.storage.base import CdrPage, CdrStore
from fabric.storage.metrics import CDR_FAILED, CDR_WRITE_LATENCY, CDR_WRITTEN

if TYPE_CHECKING:
    from fabric.cdr import Cdr


class MeteredCdrStore:
    """Delegates to ``inner``; each write counted as written or failed, and timed."""

    def __init__(self, inner: CdrStore) -> None:
        self.inner = inner

    async def write(self, cdr: Cdr) -> None:
        """Write through ``inner``; a raised error counts as ``failed``."""
        began = time.perf_counter()
        try:
            await self.inner.write(cdr)
        except Exception:
            CDR_FAILED.inc()
            raise
        CDR_WRITTEN.inc()
        CDR_WRITE_LATENCY.observe(time.perf_counter() - began)

    async def get(self, tenant_id: str, call_id: str) -> Cdr:
        """One CDR of ``tenant_id`` (see :class:`CdrStore`)."""
        return await self.inner.get(tenant_id, call_id)

    async def query(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        number: str | None = None,
        page_size: int = 100,
        page_token: str = "",
    ) -> CdrPage:
        """A tenant's CDRs in a time range (see :class:`CdrStore`)."""
        return await self.inner.query(
            tenant_id, start, end, number=number, page_size=page_size, page_token=page_token
        )

    async def delete_tenant(self, tenant_id: str) -> int:
        """Erase a tenant's CDRs (see :class:`CdrStore`)."""
        return await self.inner.delete_tenant(tenant_id)

    async def close(self) -> None:
        """Close ``inner``."""
        await self.inner.close()

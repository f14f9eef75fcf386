"""The tenant: its actor (``actors.tenant:TenantActor``, kind ``tenant``) and its address.

The actor is split by job: :mod:`~actors.tenant.actor` (carrier operations, keys, active
calls), :mod:`~actors.tenant.admin`, :mod:`~actors.tenant.routing` and
:mod:`~actors.tenant.registrations`, over the shared :mod:`~actors.tenant.base`.
"""

from actors.tenant.actor import TenantActor
from actors.tenant.base import KIND, REGISTRATION_TTL_S, TenantId, tenant_address

__all__ = ["KIND", "REGISTRATION_TTL_S", "TenantActor", "TenantId", "tenant_address"]

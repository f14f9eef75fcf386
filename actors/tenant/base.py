"""What the parts of the TenantActor share: its key, limits, state and common checks.

The TenantActor is assembled from parts (``registrations``, ``routing``, ``admin``) that
are mixins over :class:`TenantParts`, one actor with one state; see :mod:`actors.tenant`.
"""

from __future__ import annotations

import secrets
from typing import NewType

from actors import validate
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.actor import ActorAddress, ActorContext
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied

TenantId = NewType("TenantId", str)
"""A tenant's id: the TenantActor's key."""

KIND = "tenant"
REGISTRATION_TTL_S = 90.0
MAX_USERS = 1000
MAX_EXTENSIONS = 1000
MAX_GROUPS = 200
MAX_GROUP_MEMBERS = 50
MAX_KEYS = 200
MAX_INTERVALS = 70
MAX_FORWARD_HOPS = 3
TENANT_ROLES = (api_common.ROLE_OWNER, api_common.ROLE_ADMIN, api_common.ROLE_MEMBER)

Registrations = dict[str, dict[str, tuple[msg_common.Address, float]]]
"""extension -> registration id -> (endpoint, expiry in the actor clock's unix seconds)."""

GoneAt = dict[str, float]
"""extension -> when its last registration went away (the actor clock's unix seconds)."""


def tenant_address(tenant_id: str) -> ActorAddress:
    """The address of a tenant's actor."""
    return ActorAddress(KIND, tenant_id)


def new_id(prefix: str) -> str:
    """A fresh random id such as ``u-1a2b3c4d5e6f``."""
    return f"{prefix}-{secrets.token_hex(6)}"


class TenantParts:
    """The attributes every part of the TenantActor reads (set in ``on_activate``)."""

    ctx: ActorContext
    state: msg_tenant.TenantState | None
    registrations: Registrations
    gone_at: GoneAt

    def _live(self) -> msg_tenant.TenantState:
        """The configuration; ``NotFound`` (and passivation) until the tenant exists."""
        if self.state is None:
            self.ctx.deactivate_after_turn()
            raise NotFound("no such tenant", error_id="tenant-not-found")
        return self.state

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    @staticmethod
    def _require_open(state: msg_tenant.TenantState) -> None:
        if state.status == api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition("the tenant is closed", error_id="tenant-closed")

    @staticmethod
    def _own_extension(
        state: msg_tenant.TenantState, p: msg_common.Principal, extension: str
    ) -> api_tenant.Extension:
        validate.extension(extension)
        ext = state.extensions.get(extension)
        if ext is None:
            # another tenant's extension is not in this tenant's state: it stays not found
            raise NotFound(f"your tenant has no extension {extension}",
                           error_id="extension-not-found")
        if p.role == api_common.ROLE_MEMBER and ext.user_id != p.user_id:
            raise PermissionDenied(
                "this extension belongs to another user of your tenant; a member acts only on "
                "their own extensions (an owner or admin may act on any)",
                error_id="extension-not-yours",
                details={"field": "extension", "required_roles": "owner, admin"},
            )
        return ext

"""The TenantActor: a tenant's configuration, its credentials and its routing decisions.

Kind ``tenant``, key = tenant id. The configuration (users, extensions, ring groups, number
routes, business hours, hashed API keys) is one protobuf state saved on every change, so a
failed check leaves nothing half-written: every request is validated completely before the
state is touched.

The actor is assembled from its parts, one module each: :mod:`actors.tenant.admin`
(TenantAdmin ops), :mod:`actors.tenant.routing` (callers and ring steps) and
:mod:`actors.tenant.registrations` (softphone endpoints, in memory only); this module
holds the carrier's operations and key verification. The list of active calls is not here:
it is persisted by the tenant's ``ActiveCallIndex`` (``actors.call_index``).
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import replace

from actors.compliance.records import ComplianceRecords, Region
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.admin import TenantAdmin
from actors.tenant.base import KIND, TenantId
from actors.tenant.routing import TenantRouting
from actors.tenant.sms import TenantSms
from actors.tenant.transcription import TenantTranscription
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import (
    AlreadyExists,
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    Unauthenticated,
)
from fabric.storage.residency import REGION_NOT_SERVED, TenantRegions

DEFAULT_REGION = Region.US.value


class TenantActor(
    TenantAdmin, TenantRouting, TenantSms, TenantTranscription, VirtualActor[TenantId]
):
    """A tenant's configuration, credentials, registrations and routing."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the configuration (None until the carrier creates the tenant)."""
        self.state = await self.ctx.load_state(msg_tenant.TenantState)
        self.registrations = {}
        self.gone_at = {}

    # ---- carrier ----------------------------------------------------------------------

    @handler
    async def on_create(self, msg: msg_tenant.CreateTenant) -> api_carrier.Tenant:
        """Create the tenant with its first owner and the owner's API key."""
        if self.state is not None:
            raise AlreadyExists("the tenant exists", error_id="tenant-exists")
        region = msg.region or DEFAULT_REGION
        await self._record_region(msg.tenant_id, region)
        created_at_ms = self._now_ms()
        owner = api_tenant.User(
            user_id=msg.owner_user_id, name=msg.owner_name, role=api_common.ROLE_OWNER
        )
        state = msg_tenant.TenantState(
            tenant_id=msg.tenant_id,
            name=msg.name,
            plan=msg.plan or api_carrier.PLAN_STANDARD,
            status=api_carrier.TENANT_STATUS_ACTIVE,
            created_at_ms=created_at_ms,
            region=region,
        )
        state.users[owner.user_id].CopyFrom(owner)
        key = state.api_keys[msg.owner_key_id]
        key.key.CopyFrom(
            api_tenant.ApiKey(
                key_id=msg.owner_key_id,
                user_id=owner.user_id,
                role=api_common.ROLE_OWNER,
                created_at_ms=created_at_ms,
            )
        )
        key.secret_hash = msg.owner_secret_hash
        await self.ctx.save_state(state)
        self.state = state
        return self._tenant_view(state)

    async def _record_region(self, tenant_id: str, region: str) -> None:
        """Residency: record the region in the storage's directory (``TenantRegions``, a
        host service when ``storage.regions`` is set) before the tenant exists, so none of
        its data is written elsewhere. Without regions one keyspace holds all: only the
        default region is served."""
        try:
            regions: TenantRegions = self.ctx.service(TenantRegions)
        except FabricError:
            if region != DEFAULT_REGION:
                raise FailedPrecondition(
                    f"this fabric keeps all data in one keyspace (storage.regions is empty), "
                    f"so it serves only region {DEFAULT_REGION!r}",
                    error_id=REGION_NOT_SERVED, details={"field": "region"}) from None
            return
        await regions.assign(tenant_id, region)
        if region != DEFAULT_REGION:  # the compliance record shows it (default: us)
            with contextlib.suppress(FabricError):
                records: ComplianceRecords = self.ctx.service(ComplianceRecords)
                await records.update(tenant_id, lambda c: replace(c, region=Region(region)))

    @staticmethod
    def _tenant_view(state: msg_tenant.TenantState) -> api_carrier.Tenant:
        return api_carrier.Tenant(
            tenant_id=state.tenant_id,
            name=state.name,
            plan=state.plan,
            status=state.status,
            numbers=sorted(state.numbers),
            created_at_ms=state.created_at_ms,
            region=state.region or DEFAULT_REGION,
        )

    @handler
    async def on_get(self, msg: msg_tenant.GetTenant) -> api_carrier.Tenant:
        """The tenant as the carrier sees it."""
        return self._tenant_view(self._live())

    @handler
    async def on_set_status(self, msg: msg_tenant.SetTenantStatus) -> api_carrier.Tenant:
        """Suspend, re-activate or close the tenant (closing drops numbers and keys)."""
        state = self._live()
        if state.status == api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition("the tenant is closed", error_id="tenant-closed")
        if msg.status not in (
            api_carrier.TENANT_STATUS_ACTIVE,
            api_carrier.TENANT_STATUS_SUSPENDED,
            api_carrier.TENANT_STATUS_CLOSED,
        ):
            raise InvalidArgument("status must be ACTIVE, SUSPENDED or CLOSED")
        if msg.status == api_carrier.TENANT_STATUS_CLOSED:
            # the account retention after closure starts (actors.privacy): told first, so a
            # failure leaves the tenant open and the carrier's retry tells it again
            await self.ctx.system.ref(ActorAddress("privacy", state.tenant_id)).ask(
                msg_privacy.TenantClosed(closed_at_ms=self._now_ms())
            )
        state.status = msg.status
        if msg.status == api_carrier.TENANT_STATUS_CLOSED:
            state.numbers.clear()
            state.api_keys.clear()
            self.registrations.clear()
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    @handler
    async def on_set_plan(self, msg: msg_tenant.SetTenantPlan) -> api_carrier.Tenant:
        """Change the tenant's plan."""
        state = self._live()
        if msg.plan not in (api_carrier.PLAN_STANDARD, api_carrier.PLAN_PRO):
            raise InvalidArgument("plan must be PLAN_STANDARD or PLAN_PRO", error_id="invalid-plan")
        self._require_open(state)
        state.plan = msg.plan
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    @handler
    async def on_add_numbers(self, msg: msg_tenant.AddNumbers) -> api_carrier.Tenant:
        """Record numbers the directory allocated to this tenant."""
        state = self._live()
        self._require_open(state)
        for number in msg.numbers:
            if number not in state.numbers:
                state.numbers[number].number = number
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    @handler
    async def on_remove_number(self, msg: msg_tenant.RemoveNumber) -> api_carrier.Tenant:
        """Forget a number the directory released."""
        state = self._live()
        if msg.number in state.numbers:
            del state.numbers[msg.number]
            await self.ctx.save_state(state)
        return self._tenant_view(state)

    @handler
    async def on_purge(self, msg: msg_privacy.PurgeTenant) -> api_tenant.Empty:
        """Delete a closed tenant's configuration (the PrivacyActor asks, when the account
        retention after closure is over)."""
        state = self._live()
        if state.status != api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition("the tenant is not closed", error_id="tenant-not-closed")
        await self.ctx.clear_state()
        self.state = None
        self.ctx.deactivate_after_turn()
        return api_tenant.Empty()

    # ---- credentials ------------------------------------------------------------------

    @handler
    async def on_verify(self, msg: msg_tenant.VerifyKey) -> msg_tenant.KeyVerdict:
        """Check an API key's secret hash; answer its user, role and the tenant's status."""
        state = self._live()
        stored = state.api_keys.get(msg.key_id)
        if stored is None or not hmac.compare_digest(stored.secret_hash, msg.secret_hash):
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        user = state.users.get(stored.key.user_id)
        if user is None:
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        return msg_tenant.KeyVerdict(user_id=user.user_id, role=user.role, status=state.status)

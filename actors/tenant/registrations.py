"""The TenantActor's softphone registrations (in memory, refreshed by Register streams).

Registrations name endpoints in gateway processes that die with those processes, so they
are never persisted: each Register stream refreshes its registration before
``REGISTRATION_TTL_S`` of the actor's clock runs out, and a re-activated tenant learns its
live softphones again within one refresh.

When an extension's last registration goes (its stream closed, or it expired) the time is
kept (``gone_at``, one entry per extension at most), so a call that finds its party lost
(``CheckParties``, from ``actors.call_liveness``) stops its talk time at the loss.

An extension takes at most the plan's ``registrations_per_extension`` live registrations
(``limits.*``); one more is refused RESOURCE_EXHAUSTED ``registrations-per-extension`` (a
refresh of a registration already held always passes).
"""

from __future__ import annotations

import contextlib

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.base import REGISTRATION_TTL_S, TenantParts
from fabric.actor import handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.config import LimitsSettings
from fabric.edge.limits import exhausted
from fabric.errors import FabricError, FailedPrecondition

REGISTER_RETRY_S = 30.0


class TenantRegistrations(TenantParts):
    """Register / unregister softphone endpoints; the live endpoints of an extension."""

    @handler
    async def on_register(self, msg: msg_tenant.RegisterEndpoint) -> msg_tenant.RegistrationAck:
        """Record (or refresh) a softphone's endpoint for one of the principal's extensions."""
        state = self._live()
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        self._own_extension(state, msg.principal, msg.extension)
        if msg.registration_id not in self.registrations.get(msg.extension, {}):
            allowed = self._limits().for_plan(state.plan == api_carrier.PLAN_PRO)
            if len(self._endpoints(msg.extension)) >= allowed.registrations_per_extension:
                raise exhausted(
                    "registrations-per-extension",
                    "this extension has as many softphones registered as the plan allows; "
                    "close one",
                    REGISTER_RETRY_S,
                )
        regs = self.registrations.setdefault(msg.extension, {})
        self.gone_at.pop(msg.extension, None)
        expiry = self.ctx.clock.now() + REGISTRATION_TTL_S
        regs[msg.registration_id] = (msg.endpoint, expiry)
        return msg_tenant.RegistrationAck(
            extension=msg.extension, registration_id=msg.registration_id
        )

    def _limits(self) -> LimitsSettings:
        with contextlib.suppress(FabricError):
            return self.ctx.service(LimitsSettings)
        return LimitsSettings()

    @handler
    async def on_unregister(
        self, msg: msg_tenant.UnregisterEndpoint
    ) -> msg_tenant.RegistrationAck:
        """Forget a registration (its stream closed)."""
        self._live()
        regs = self.registrations.get(msg.extension)
        if regs is not None:
            regs.pop(msg.registration_id, None)
            if not regs:
                del self.registrations[msg.extension]
                self.gone_at[msg.extension] = self.ctx.clock.now()
        return msg_tenant.RegistrationAck(
            extension=msg.extension, registration_id=msg.registration_id
        )

    def _endpoints(self, extension: str) -> list[msg_common.Address]:
        """The unexpired endpoints of ``extension`` (expired ones are dropped)."""
        regs = self.registrations.get(extension)
        if not regs:
            return []
        now = self.ctx.clock.now()
        live = [addr for addr, expiry in regs.values() if expiry > now]
        if len(live) != len(regs):
            expired = [(r, e) for r, (_, e) in regs.items() if e <= now]
            for reg_id, _ in expired:
                del regs[reg_id]
            if not regs:
                del self.registrations[extension]
                self.gone_at[extension] = max(e for _, e in expired)
        return live

    @handler
    async def on_check_parties(self, msg: msg_tenant.CheckParties) -> msg_tenant.PartiesStatus:
        """The live endpoints of each extension, and when the last one went if none is."""
        state = self._live()
        out = msg_tenant.PartiesStatus()
        extensions = list(msg.extensions)
        if msg.shared_mailbox:  # the members of the groups sharing this mailbox
            for group in state.ring_groups.values():
                if group.voicemail_extension == msg.shared_mailbox:
                    extensions += [e for e in group.extensions if e not in extensions]
        for extension in extensions:
            endpoints = self._endpoints(extension)
            gone = self.gone_at.get(extension) if not endpoints else None
            out.parties.add(
                extension=extension,
                endpoints=endpoints,
                gone_at_ms=int(gone * 1000) if gone is not None else 0,
            )
        return out

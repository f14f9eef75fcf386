"""The TenantActor's routing: who is calling, and where a call rings in this tenant.

Routing is answered as ring *steps*: the targets to ring together and for how long. An
extension with forwarding-on-no-answer becomes two steps, a ring group in order one step per
member, all at once one step with every member. The CallActor walks the steps with a
reminder per step. Business hours are checked against the actor's clock (``ctx.clock``).
Destinations arrive checked (``actors.validate.destination``, by the CallActor).
Only targets with a live registration ring (ringing nobody would only delay the next step:
voicemail, the next member, no-answer), and never the extension placing or transferring
the call (``RouteCall.exclude_extension``; a ring group never rings its caller).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from actors import validate
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.recording_policy import policy_of
from actors.tenant.base import MAX_FORWARD_HOPS
from actors.tenant.registrations import TenantRegistrations
from fabric.actor import handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, NotFound, Unavailable


def is_open(hours: api_tenant.BusinessHours, now_s: float) -> bool:
    """Whether unix time ``now_s`` falls in one of the opening intervals, in the tenant's
    zone."""
    zone = ZoneInfo(hours.timezone) if hours.timezone else UTC
    local = datetime.fromtimestamp(now_s, tz=zone)
    minute = local.hour * 60 + local.minute
    return any(
        iv.weekday == local.weekday() and iv.start_minute <= minute < iv.end_minute
        for iv in hours.open
    )


class TenantRouting(TenantRegistrations):
    """ResolveCaller, RouteCall and RouteInternal (the caller and the route in one ask)."""

    _exclude: str = ""  # the extension the route being made must not ring (set per route)

    @handler
    async def on_resolve_caller(self, msg: msg_tenant.ResolveCaller) -> msg_tenant.CallerInfo:
        """The calling extension (the principal's own, for members) and its endpoints."""
        return self._caller(self._live(), msg)

    @handler
    async def on_route_call(self, msg: msg_tenant.RouteCall) -> msg_tenant.RouteDecision:
        """Where a call to ``msg.destination`` rings in this tenant."""
        return self._route(self._live(), msg)

    @handler
    async def on_route_internal(
        self, msg: msg_tenant.RouteInternal
    ) -> msg_tenant.InternalRoute:
        """A call within this tenant: its caller and its route."""
        state = self._live()
        caller = self._caller(state, msg.caller)
        route = msg_tenant.RouteCall()
        route.CopyFrom(msg.route)
        route.exclude_extension = caller.extension  # a ring group never rings its caller
        return msg_tenant.InternalRoute(caller=caller, decision=self._route(state, route))

    def _caller(
        self, state: msg_tenant.TenantState, msg: msg_tenant.ResolveCaller
    ) -> msg_tenant.CallerInfo:
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        ext = self._own_extension(state, msg.principal, msg.from_extension)
        return msg_tenant.CallerInfo(
            extension=ext.extension,
            user_id=ext.user_id,
            endpoints=self._endpoints(ext.extension),
            plan=state.plan,
            public_number=min(state.numbers) if state.numbers else "",
            recording_policy=policy_of(ext),
        )

    def _route(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RouteCall
    ) -> msg_tenant.RouteDecision:
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise NotFound("the number is not in service", error_id="number-not-in-service")
        dest = msg.destination
        decision = msg_tenant.RouteDecision(tenant_id=state.tenant_id)
        self._exclude = msg.exclude_extension
        if dest.WhichOneof("target") == "number":
            route = state.numbers.get(dest.number)
            target = route.WhichOneof("target") if route is not None else None
            if route is None or target is None:
                raise NotFound("the number is not in service", error_id="number-not-in-service")
            hours = state.business_hours
            if msg.inbound and hours.enabled and not is_open(hours, self.ctx.clock.now()):
                decision.after_hours = True
                if hours.WhichOneof("after_hours") == "after_hours_extension":
                    self._ring_extension(state, hours.after_hours_extension, decision, 0)
                else:
                    self._ring_group(state, hours.after_hours_ring_group, decision)
            elif target == "extension":
                self._ring_extension(state, route.extension, decision, 0)
            else:
                self._ring_group(state, route.ring_group, decision)
        else:
            if dest.extension not in state.extensions:
                raise NotFound(f"the called extension {dest.extension} does not exist",
                               error_id="extension-not-found")
            self._ring_extension(state, dest.extension, decision, 0)
        return decision

    def _target(self, ext: api_tenant.Extension) -> msg_tenant.RingTarget | None:
        """The extension as a ring target; None when it has no registration (or is the
        excluded caller): nothing would ring."""
        if ext.extension == self._exclude:
            return None
        endpoints = self._endpoints(ext.extension)
        if not endpoints:
            return None
        return msg_tenant.RingTarget(
            extension=ext.extension, user_id=ext.user_id, endpoints=endpoints,
            recording_policy=policy_of(ext),
        )

    def _ring_extension(
        self,
        state: msg_tenant.TenantState,
        extension: str,
        decision: msg_tenant.RouteDecision,
        hops: int,
    ) -> None:
        ext = state.extensions.get(extension)
        if ext is None:  # a dangling reference: nothing rings (the call ends as no-answer)
            return
        decision.recording = decision.recording or policy_of(ext) == api_tenant.RECORDING_ALWAYS
        fw = ext.forwarding
        if fw.mode == api_tenant.FORWARD_ALWAYS and fw.to_number:
            raise Unavailable(  # stored for the future trunk; refused until one exists
                f"extension {extension} forwards every call to an outside number, which "
                "needs a carrier trunk this fabric does not have yet",
                error_id="no-carrier-trunk",
            )
        can_forward = hops < MAX_FORWARD_HOPS and fw.to_extension in state.extensions
        if fw.mode == api_tenant.FORWARD_ALWAYS and can_forward:
            self._ring_extension(state, fw.to_extension, decision, hops + 1)
            return
        target = self._target(ext)
        if target is not None:
            decision.steps.append(
                msg_tenant.RingStep(
                    targets=[target], timeout_s=ext.ring_timeout_s or validate.DEFAULT_RING_S
                )
            )
        if fw.mode == api_tenant.FORWARD_NO_ANSWER and can_forward:
            self._ring_extension(state, fw.to_extension, decision, hops + 1)
            return
        decision.voicemail = ext.voicemail
        decision.voicemail_extension = ext.extension if ext.voicemail else ""

    def _ring_group(
        self, state: msg_tenant.TenantState, group_id: str, decision: msg_tenant.RouteDecision
    ) -> None:
        group = state.ring_groups.get(group_id)
        if group is None:
            return
        members = [state.extensions[e] for e in group.extensions if e in state.extensions]
        targets = [t for t in map(self._target, members) if t is not None]
        timeout = group.ring_timeout_s or validate.DEFAULT_RING_S
        if group.strategy == api_tenant.RING_IN_ORDER:
            for target in targets:
                decision.steps.append(msg_tenant.RingStep(targets=[target], timeout_s=timeout))
        elif targets:
            decision.steps.append(msg_tenant.RingStep(targets=targets, timeout_s=timeout))
        box = state.extensions.get(group.voicemail_extension)
        if box is not None and box.voicemail:  # the group's shared mailbox
            decision.voicemail = True
            decision.voicemail_extension = box.extension

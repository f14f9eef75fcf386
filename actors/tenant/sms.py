"""The TenantActor's answers for SMS: which number a principal sends from, which numbers it
reaches, and which extensions a number's messages go to.

A number's messages go where its calls ring, without business hours or forwarding: the
extension it routes to, or every member of its ring group (a text is not a call: nobody has
to be free to answer it). Every such extension gets it on its Register streams; the message
is stored in the number's conversation whether or not anybody is registered.
"""

from __future__ import annotations

from actors import validate
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import sms_pb2 as msg_sms
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.registrations import TenantRegistrations
from fabric.actor import handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.errors import FailedPrecondition, NotFound, PermissionDenied


def _route_extensions(state: msg_tenant.TenantState, number: str) -> list[str]:
    """The extensions ``number`` routes to (its extension, or its ring group's members)."""
    route = state.numbers.get(number)
    if route is None:
        return []
    target = route.WhichOneof("target")
    if target == "extension":
        return [route.extension] if route.extension in state.extensions else []
    if target == "ring_group":
        group = state.ring_groups.get(route.ring_group)
        if group is not None:
            return [e for e in group.extensions if e in state.extensions]
    return []


class TenantSms(TenantRegistrations):
    """SmsSenderQuery, SmsReachQuery and SmsRouteQuery."""

    def _sms_active(self) -> msg_tenant.TenantState:
        state = self._live()
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        return state

    def _reach(self, state: msg_tenant.TenantState, p: msg_common.Principal) -> list[str]:
        if p.role != api_common.ROLE_MEMBER:
            return sorted(state.numbers)
        mine = {e for e, ext in state.extensions.items() if ext.user_id == p.user_id}
        return sorted(n for n in state.numbers if mine & set(_route_extensions(state, n)))

    @handler
    async def on_sms_sender(self, msg: msg_sms.SmsSenderQuery) -> msg_sms.SmsSender:
        """The number ``msg.from`` sends as: the number itself (held by the tenant, and for a
        member routed to one of their extensions), or the number routed to the extension."""
        state = self._sms_active()
        sender = getattr(msg, "from")
        p = msg.principal
        if sender.startswith("+"):
            validate.e164(sender, "from")
            if sender not in state.numbers:
                raise NotFound(
                    f"your tenant holds no number {sender}; `fabric number list` shows yours",
                    error_id="number-not-found",
                    details={"field": "from"},
                )
            if sender not in self._reach(state, p):
                raise PermissionDenied(
                    "this number is not routed to one of your extensions; a member sends "
                    "only from those (an owner or admin may send from any)",
                    error_id="number-not-yours",
                    details={"field": "from", "required_roles": "owner, admin"},
                )
            return msg_sms.SmsSender(number=sender)
        ext = self._own_extension(state, p, sender)
        routed = sorted(n for n in state.numbers if ext.extension in _route_extensions(state, n))
        if not routed:
            raise FailedPrecondition(
                f"no number of your tenant is routed to extension {ext.extension}; route one "
                "with `fabric number set NUMBER --ext EXT` or send from a number",
                error_id="extension-has-no-number",
                details={"field": "from"},
            )
        direct = [n for n in routed if state.numbers[n].extension == ext.extension]
        return msg_sms.SmsSender(number=(direct or routed)[0], extension=ext.extension)

    @handler
    async def on_sms_reach(self, msg: msg_sms.SmsReachQuery) -> msg_sms.SmsReach:
        """The numbers the principal reaches (owners and admins: all of them)."""
        state = self._live()
        return msg_sms.SmsReach(
            all=msg.principal.role != api_common.ROLE_MEMBER,
            numbers=self._reach(state, msg.principal),
        )

    @handler
    async def on_sms_route(self, msg: msg_sms.SmsRouteQuery) -> msg_sms.SmsRoute:
        """The extensions a message to ``msg.number`` goes to, with their live endpoints."""
        state = self._live()
        if state.status != api_carrier.TENANT_STATUS_ACTIVE or msg.number not in state.numbers:
            raise NotFound("the number is not in service", error_id="number-not-in-service")
        out = msg_sms.SmsRoute()
        for extension in _route_extensions(state, msg.number):
            out.targets.add(
                extension=extension,
                user_id=state.extensions[extension].user_id,
                endpoints=self._endpoints(extension),
            )
        return out

"""The TenantActor: a tenant's configuration, its credentials and its routing decisions.

Kind ``tenant``, key = tenant id. The configuration (users, extensions, ring groups, number
routes, business hours, hashed API keys) is one protobuf state saved on every change, so a
failed check leaves nothing half-written: every request is validated completely before the
state is touched.

Softphone registrations are kept in memory only: they name endpoints in gateway processes
that die with those processes, so persisting them would only resurrect dead addresses.
Each Register stream refreshes its registration (``REGISTRATION_TTL_S``), so a re-activated
tenant learns its live softphones again within one refresh. The set of active calls is
in memory for the same reason (CallActors announce start and end).

Routing is answered as ring *steps*: the targets to ring together and for how long. An
extension with forwarding-on-no-answer becomes two steps, a ring group in order one step per
member, all at once one step with every member. The CallActor walks the steps with a
reminder per step.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.message import Message

from actors import validate
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from fabric.actor import ActorAddress, VirtualActor
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.edge.credentials import new_api_key
from fabric.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

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


def tenant_address(tenant_id: str) -> ActorAddress:
    """The address of a tenant's actor."""
    return ActorAddress(KIND, tenant_id)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


class TenantActor(VirtualActor):
    """A tenant's configuration, credentials, registrations and routing."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the configuration (None until the carrier creates the tenant)."""
        self.state: msg_tenant.TenantState | None = await self.ctx.load_state(
            msg_tenant.TenantState
        )
        # extension -> registration id -> (endpoint, expiry in monotonic seconds)
        self.registrations: dict[str, dict[str, tuple[msg_common.Address, float]]] = {}
        self.active_calls: set[str] = set()

    # ---- dispatch ---------------------------------------------------------------------

    async def handle(self, message: Message, sender: ActorAddress | None) -> Message | None:
        """Dispatch one message (see protos/actors/messages/v1/tenant.proto)."""
        if isinstance(message, msg_tenant.CreateTenant):
            return await self._create(message)
        state = self.state
        if state is None:
            self.ctx.deactivate_after_turn()
            raise NotFound("no such tenant", error_id="tenant-not-found")
        handler = self._handlers.get(type(message))
        if handler is None:
            raise InvalidArgument("unknown tenant message", error_id="unknown-message")
        return await handler(self, state, message)

    # ---- carrier ----------------------------------------------------------------------

    async def _create(self, msg: msg_tenant.CreateTenant) -> api_carrier.Tenant:
        if self.state is not None:
            raise AlreadyExists("the tenant exists", error_id="tenant-exists")
        owner = api_tenant.User(
            user_id=msg.owner_user_id, name=msg.owner_name, role=api_common.ROLE_OWNER
        )
        state = msg_tenant.TenantState(
            tenant_id=msg.tenant_id,
            name=msg.name,
            plan=msg.plan or api_carrier.PLAN_STANDARD,
            status=api_carrier.TENANT_STATUS_ACTIVE,
            created_at_ms=msg.created_at_ms,
        )
        state.users[owner.user_id].CopyFrom(owner)
        key = state.api_keys[msg.owner_key_id]
        key.key.CopyFrom(
            api_tenant.ApiKey(
                key_id=msg.owner_key_id,
                user_id=owner.user_id,
                role=api_common.ROLE_OWNER,
                created_at_ms=msg.created_at_ms,
            )
        )
        key.secret_hash = msg.owner_secret_hash
        await self.ctx.save_state(state)
        self.state = state
        return self._tenant_view(state)

    @staticmethod
    def _tenant_view(state: msg_tenant.TenantState) -> api_carrier.Tenant:
        return api_carrier.Tenant(
            tenant_id=state.tenant_id,
            name=state.name,
            plan=state.plan,
            status=state.status,
            numbers=sorted(state.numbers),
            created_at_ms=state.created_at_ms,
        )

    async def _get(
        self, state: msg_tenant.TenantState, msg: msg_tenant.GetTenant
    ) -> api_carrier.Tenant:
        return self._tenant_view(state)

    async def _set_status(
        self, state: msg_tenant.TenantState, msg: msg_tenant.SetTenantStatus
    ) -> Message:
        if state.status == api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition("the tenant is closed", error_id="tenant-closed")
        if msg.status not in (
            api_carrier.TENANT_STATUS_ACTIVE,
            api_carrier.TENANT_STATUS_SUSPENDED,
            api_carrier.TENANT_STATUS_CLOSED,
        ):
            raise InvalidArgument("status must be ACTIVE, SUSPENDED or CLOSED")
        state.status = msg.status
        if msg.status == api_carrier.TENANT_STATUS_CLOSED:
            state.numbers.clear()
            state.api_keys.clear()
            self.registrations.clear()
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    async def _set_plan(
        self, state: msg_tenant.TenantState, msg: msg_tenant.SetTenantPlan
    ) -> Message:
        if msg.plan not in (api_carrier.PLAN_STANDARD, api_carrier.PLAN_PRO):
            raise InvalidArgument("plan must be PLAN_STANDARD or PLAN_PRO", error_id="invalid-plan")
        self._require_open(state)
        state.plan = msg.plan
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    async def _add_numbers(
        self, state: msg_tenant.TenantState, msg: msg_tenant.AddNumbers
    ) -> Message:
        self._require_open(state)
        for number in msg.numbers:
            if number not in state.numbers:
                state.numbers[number].number = number
        await self.ctx.save_state(state)
        return self._tenant_view(state)

    async def _remove_number(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RemoveNumber
    ) -> Message:
        if msg.number in state.numbers:
            del state.numbers[msg.number]
            await self.ctx.save_state(state)
        return self._tenant_view(state)

    @staticmethod
    def _require_open(state: msg_tenant.TenantState) -> None:
        if state.status == api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition("the tenant is closed", error_id="tenant-closed")

    # ---- credentials ------------------------------------------------------------------

    async def _verify(
        self, state: msg_tenant.TenantState, msg: msg_tenant.VerifyKey
    ) -> msg_tenant.KeyVerdict:
        stored = state.api_keys.get(msg.key_id)
        if stored is None or not hmac.compare_digest(stored.secret_hash, msg.secret_hash):
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        user = state.users.get(stored.key.user_id)
        if user is None:
            raise Unauthenticated("the API key is not valid", error_id="bad-credentials")
        return msg_tenant.KeyVerdict(user_id=user.user_id, role=user.role, status=state.status)

    # ---- administration ---------------------------------------------------------------

    async def _admin(self, state: msg_tenant.TenantState, msg: msg_tenant.AdminOp) -> Message:
        which = msg.WhichOneof("op")
        if which is None:
            raise InvalidArgument("empty request", error_id="empty-request")
        if state.status != api_carrier.TENANT_STATUS_ACTIVE and which not in (
            "get_config",
            "list_users",
            "list_extensions",
            "list_ring_groups",
            "list_numbers",
            "list_api_keys",
        ):
            raise FailedPrecondition(
                "the tenant is suspended or closed; ask the carrier", error_id="tenant-inactive"
            )
        op = getattr(msg, which)
        result: Message = await _ADMIN[which](self, state, msg.principal, op)
        return result

    def _config(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, _: Message
    ) -> api_tenant.TenantConfig:
        return api_tenant.TenantConfig(
            tenant_id=state.tenant_id,
            name=state.name,
            users=[state.users[k] for k in sorted(state.users)],
            extensions=[state.extensions[k] for k in sorted(state.extensions)],
            ring_groups=[state.ring_groups[k] for k in sorted(state.ring_groups)],
            numbers=[state.numbers[k] for k in sorted(state.numbers)],
            business_hours=state.business_hours,
        )

    async def _get_config(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return self._config(state, p, op)

    async def _create_user(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.CreateUserRequest,
    ) -> Message:
        validate.name(op.name)
        if op.role not in TENANT_ROLES:
            raise InvalidArgument(
                "role must be ROLE_OWNER, ROLE_ADMIN or ROLE_MEMBER", error_id="invalid-role"
            )
        if op.role == api_common.ROLE_OWNER and p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may create owners", error_id="owner-only")
        if len(state.users) >= MAX_USERS:
            raise FailedPrecondition(f"a tenant has at most {MAX_USERS} users", error_id="limit")
        user = api_tenant.User(user_id=_new_id("u"), name=op.name, role=op.role)
        state.users[user.user_id].CopyFrom(user)
        await self.ctx.save_state(state)
        return user

    async def _delete_user(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.UserRef
    ) -> Message:
        user = state.users.get(op.user_id)
        if user is None:
            raise NotFound("no such user", error_id="user-not-found")
        if user.role == api_common.ROLE_OWNER:
            if p.role != api_common.ROLE_OWNER:
                raise PermissionDenied("only an owner may remove owners", error_id="owner-only")
            if sum(u.role == api_common.ROLE_OWNER for u in state.users.values()) == 1:
                raise FailedPrecondition("a tenant keeps at least one owner", error_id="last-owner")
        if any(e.user_id == op.user_id for e in state.extensions.values()):
            raise FailedPrecondition(
                "the user has extensions; move or delete them first", error_id="user-in-use"
            )
        del state.users[op.user_id]
        for key_id in [k for k, v in state.api_keys.items() if v.key.user_id == op.user_id]:
            del state.api_keys[key_id]
        await self.ctx.save_state(state)
        return api_tenant.Empty()

    async def _list_users(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListUsersResponse(users=[state.users[k] for k in sorted(state.users)])

    async def _put_extension(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.PutExtensionRequest,
    ) -> Message:
        ext = api_tenant.Extension()
        ext.CopyFrom(op.extension)
        validate.extension(ext.extension)
        if ext.user_id not in state.users:
            raise InvalidArgument(
                "extension.user_id must name a user of this tenant (see ListUsers)",
                error_id="unknown-user",
            )
        ext.ring_timeout_s = validate.ring_timeout(ext.ring_timeout_s, "extension.ring_timeout_s")
        fw = ext.forwarding
        if fw.mode not in (
            api_tenant.FORWARD_MODE_UNSPECIFIED,
            api_tenant.FORWARD_ALWAYS,
            api_tenant.FORWARD_NO_ANSWER,
        ):
            raise InvalidArgument("forwarding.mode is unknown", error_id="invalid-forwarding")
        if fw.mode != api_tenant.FORWARD_MODE_UNSPECIFIED:
            validate.extension(fw.to_extension, "forwarding.to_extension")
            if fw.to_extension == ext.extension or fw.to_extension not in state.extensions:
                raise InvalidArgument(
                    "forwarding.to_extension must be another existing extension",
                    error_id="invalid-forwarding",
                )
        elif fw.to_extension:
            raise InvalidArgument(
                "forwarding.to_extension must be empty unless forwarding.mode is set",
                error_id="invalid-forwarding",
            )
        if ext.extension not in state.extensions and len(state.extensions) >= MAX_EXTENSIONS:
            raise FailedPrecondition(
                f"a tenant has at most {MAX_EXTENSIONS} extensions", error_id="limit"
            )
        state.extensions[ext.extension].CopyFrom(ext)
        await self.ctx.save_state(state)
        return ext

    def _references(self, state: msg_tenant.TenantState, extension: str) -> bool:
        if any(extension in g.extensions for g in state.ring_groups.values()):
            return True
        if any(r.extension == extension for r in state.numbers.values()):
            return True
        if any(e.forwarding.to_extension == extension for e in state.extensions.values()):
            return True
        return state.business_hours.after_hours_extension == extension

    async def _delete_extension(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.ExtensionRef
    ) -> Message:
        validate.extension(op.extension)
        if op.extension not in state.extensions:
            raise NotFound("no such extension", error_id="extension-not-found")
        if self._references(state, op.extension):
            raise FailedPrecondition(
                "a ring group, number route, forwarding rule or business hours use this "
                "extension; change them first",
                error_id="extension-in-use",
            )
        del state.extensions[op.extension]
        self.registrations.pop(op.extension, None)
        await self.ctx.save_state(state)
        return api_tenant.Empty()

    async def _list_extensions(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListExtensionsResponse(
            extensions=[state.extensions[k] for k in sorted(state.extensions)]
        )

    async def _put_ring_group(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.PutRingGroupRequest,
    ) -> Message:
        group = api_tenant.RingGroup()
        group.CopyFrom(op.group)
        validate.group_id(group.group_id, "group.group_id")
        if not 1 <= len(group.extensions) <= MAX_GROUP_MEMBERS or len(set(group.extensions)) != len(
            group.extensions
        ):
            raise InvalidArgument(
                f"group.extensions must list 1 to {MAX_GROUP_MEMBERS} distinct extensions",
                error_id="invalid-ring-group",
            )
        for ext in group.extensions:
            validate.extension(ext, "group.extensions")
            if ext not in state.extensions:
                raise InvalidArgument(
                    "group.extensions must name existing extensions", error_id="unknown-extension"
                )
        if group.strategy not in (
            api_tenant.RING_STRATEGY_UNSPECIFIED,
            api_tenant.RING_ALL_AT_ONCE,
            api_tenant.RING_IN_ORDER,
        ):
            raise InvalidArgument("group.strategy is unknown", error_id="invalid-ring-group")
        group.strategy = group.strategy or api_tenant.RING_ALL_AT_ONCE
        group.ring_timeout_s = validate.ring_timeout(group.ring_timeout_s, "group.ring_timeout_s")
        if group.group_id not in state.ring_groups and len(state.ring_groups) >= MAX_GROUPS:
            raise FailedPrecondition(f"a tenant has at most {MAX_GROUPS} groups", error_id="limit")
        state.ring_groups[group.group_id].CopyFrom(group)
        await self.ctx.save_state(state)
        return group

    async def _delete_ring_group(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.RingGroupRef
    ) -> Message:
        validate.group_id(op.group_id)
        if op.group_id not in state.ring_groups:
            raise NotFound("no such ring group", error_id="ring-group-not-found")
        if any(r.ring_group == op.group_id for r in state.numbers.values()) or (
            state.business_hours.after_hours_ring_group == op.group_id
        ):
            raise FailedPrecondition(
                "a number route or business hours use this group; change them first",
                error_id="ring-group-in-use",
            )
        del state.ring_groups[op.group_id]
        await self.ctx.save_state(state)
        return api_tenant.Empty()

    async def _list_ring_groups(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListRingGroupsResponse(
            groups=[state.ring_groups[k] for k in sorted(state.ring_groups)]
        )

    async def _route_number(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.RouteNumberRequest,
    ) -> Message:
        route = api_tenant.NumberRoute()
        route.CopyFrom(op.route)
        validate.e164(route.number, "route.number")
        if route.number not in state.numbers:
            raise NotFound("the tenant holds no such number", error_id="number-not-found")
        self._check_target(
            state, route.WhichOneof("target"), route.extension, route.ring_group, "route"
        )
        state.numbers[route.number].CopyFrom(route)
        await self.ctx.save_state(state)
        return route

    @staticmethod
    def _check_target(
        state: msg_tenant.TenantState, which: str | None, extension: str, group: str, field: str
    ) -> None:
        if which is None:
            raise InvalidArgument(
                f"{field} needs an extension or a ring_group", error_id="missing-target"
            )
        if which.endswith("extension"):
            validate.extension(extension, f"{field}.extension")
            if extension not in state.extensions:
                raise InvalidArgument(
                    f"{field}.extension must name an existing extension",
                    error_id="unknown-extension",
                )
        else:
            validate.group_id(group, f"{field}.ring_group")
            if group not in state.ring_groups:
                raise InvalidArgument(
                    f"{field}.ring_group must name an existing ring group",
                    error_id="unknown-ring-group",
                )

    async def _list_numbers(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListNumbersResponse(
            routes=[state.numbers[k] for k in sorted(state.numbers)]
        )

    async def _set_hours(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.SetBusinessHoursRequest,
    ) -> Message:
        hours = api_tenant.BusinessHours()
        hours.CopyFrom(op.hours)
        if hours.timezone:
            try:
                if len(hours.timezone) > 64:
                    raise ValueError(hours.timezone)
                ZoneInfo(hours.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
                raise InvalidArgument(
                    "hours.timezone must be an IANA zone name such as 'Europe/Paris'",
                    error_id="invalid-timezone",
                ) from exc
        if len(hours.open) > MAX_INTERVALS:
            raise InvalidArgument(
                f"hours.open has at most {MAX_INTERVALS} intervals", error_id="invalid-hours"
            )
        for iv in hours.open:
            if iv.weekday > 6 or not iv.start_minute < iv.end_minute <= 1440:
                raise InvalidArgument(
                    "each hours.open interval needs weekday 0-6 (Monday=0) and "
                    "0 <= start_minute < end_minute <= 1440",
                    error_id="invalid-hours",
                )
        if hours.enabled:
            which = hours.WhichOneof("after_hours")
            self._check_target(
                state,
                which,
                hours.after_hours_extension,
                hours.after_hours_ring_group,
                "hours.after_hours",
            )
        state.business_hours.CopyFrom(hours)
        await self.ctx.save_state(state)
        return hours

    async def _create_key(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.CreateApiKeyRequest,
    ) -> Message:
        user = state.users.get(op.user_id)
        if user is None:
            raise NotFound("no such user", error_id="user-not-found")
        if user.role == api_common.ROLE_OWNER and p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may make keys for owners", error_id="owner-only")
        if len(state.api_keys) >= MAX_KEYS:
            raise FailedPrecondition(f"a tenant has at most {MAX_KEYS} keys", error_id="limit")
        key_id, secret, digest = new_api_key(state.tenant_id)
        stored = state.api_keys[key_id]
        stored.key.CopyFrom(
            api_tenant.ApiKey(
                key_id=key_id, user_id=user.user_id, role=user.role, created_at_ms=_now_ms()
            )
        )
        stored.secret_hash = digest
        await self.ctx.save_state(state)
        return api_tenant.CreateApiKeyResponse(key=stored.key, secret=secret)

    async def _revoke_key(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.ApiKeyRef
    ) -> Message:
        stored = state.api_keys.get(op.key_id)
        if stored is None:
            raise NotFound("no such key", error_id="key-not-found")
        owner = state.users.get(stored.key.user_id)
        if (
            owner is not None
            and owner.role == api_common.ROLE_OWNER
            and p.role != api_common.ROLE_OWNER
        ):
            raise PermissionDenied("only an owner may revoke owners' keys", error_id="owner-only")
        del state.api_keys[op.key_id]
        await self.ctx.save_state(state)
        return api_tenant.Empty()

    async def _list_keys(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListApiKeysResponse(
            keys=[state.api_keys[k].key for k in sorted(state.api_keys)]
        )

    # ---- registrations ----------------------------------------------------------------

    def _own_extension(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, extension: str
    ) -> api_tenant.Extension:
        validate.extension(extension)
        ext = state.extensions.get(extension)
        if ext is None or (p.role == api_common.ROLE_MEMBER and ext.user_id != p.user_id):
            # a member asking for someone else's extension hears "no such extension"
            raise NotFound("no such extension", error_id="extension-not-found")
        return ext

    async def _register(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RegisterEndpoint
    ) -> Message:
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        self._own_extension(state, msg.principal, msg.extension)
        regs = self.registrations.setdefault(msg.extension, {})
        regs[msg.registration_id] = (msg.endpoint, time.monotonic() + REGISTRATION_TTL_S)
        return msg_tenant.RegistrationAck(
            extension=msg.extension, registration_id=msg.registration_id
        )

    async def _unregister(
        self, state: msg_tenant.TenantState, msg: msg_tenant.UnregisterEndpoint
    ) -> Message:
        regs = self.registrations.get(msg.extension)
        if regs is not None:
            regs.pop(msg.registration_id, None)
            if not regs:
                del self.registrations[msg.extension]
        return msg_tenant.RegistrationAck(
            extension=msg.extension, registration_id=msg.registration_id
        )

    def _endpoints(self, extension: str) -> list[msg_common.Address]:
        regs = self.registrations.get(extension)
        if not regs:
            return []
        now = time.monotonic()
        live = [addr for addr, expiry in regs.values() if expiry > now]
        if len(live) != len(regs):
            for reg_id in [r for r, (_, e) in regs.items() if e <= now]:
                del regs[reg_id]
        return live

    # ---- routing ----------------------------------------------------------------------

    async def _resolve_caller(
        self, state: msg_tenant.TenantState, msg: msg_tenant.ResolveCaller
    ) -> Message:
        return self._caller(state, msg)

    def _caller(
        self, state: msg_tenant.TenantState, msg: msg_tenant.ResolveCaller
    ) -> msg_tenant.CallerInfo:
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise FailedPrecondition("the tenant is not active", error_id="tenant-inactive")
        ext = self._own_extension(state, msg.principal, msg.from_extension)
        return msg_tenant.CallerInfo(
            extension=ext.extension, user_id=ext.user_id, endpoints=self._endpoints(ext.extension)
        )

    async def _route_call(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RouteCall
    ) -> Message:
        return self._route(state, msg)

    async def _route_internal(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RouteInternal
    ) -> Message:
        caller = self._caller(state, msg.caller)
        return msg_tenant.InternalRoute(caller=caller, decision=self._route(state, msg.route))

    def _route(
        self, state: msg_tenant.TenantState, msg: msg_tenant.RouteCall
    ) -> msg_tenant.RouteDecision:
        if state.status != api_carrier.TENANT_STATUS_ACTIVE:
            raise NotFound("the number is not in service", error_id="number-not-in-service")
        dest = msg.destination
        which = dest.WhichOneof("target")
        decision = msg_tenant.RouteDecision(tenant_id=state.tenant_id)
        if which == "number":
            route = state.numbers.get(dest.number)
            target = route.WhichOneof("target") if route is not None else None
            if route is None or target is None:
                raise NotFound("the number is not in service", error_id="number-not-in-service")
            hours = state.business_hours
            if msg.inbound and hours.enabled and not _is_open(hours, msg.now_ms):
                decision.after_hours = True
                if hours.WhichOneof("after_hours") == "after_hours_extension":
                    self._ring_extension(state, hours.after_hours_extension, decision, 0)
                else:
                    self._ring_group(state, hours.after_hours_ring_group, decision)
            elif target == "extension":
                self._ring_extension(state, route.extension, decision, 0)
            else:
                self._ring_group(state, route.ring_group, decision)
        elif which == "extension":
            validate.extension(dest.extension, "to.extension")
            if dest.extension not in state.extensions:
                raise NotFound("no such extension", error_id="extension-not-found")
            self._ring_extension(state, dest.extension, decision, 0)
        else:
            raise InvalidArgument(
                "to needs an extension or a number", error_id="missing-destination"
            )
        return decision

    def _target(self, ext: api_tenant.Extension) -> msg_tenant.RingTarget:
        return msg_tenant.RingTarget(
            extension=ext.extension, user_id=ext.user_id, endpoints=self._endpoints(ext.extension)
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
        decision.recording = decision.recording or ext.recording
        fw = ext.forwarding
        can_forward = hops < MAX_FORWARD_HOPS and fw.to_extension in state.extensions
        if fw.mode == api_tenant.FORWARD_ALWAYS and can_forward:
            self._ring_extension(state, fw.to_extension, decision, hops + 1)
            return
        decision.steps.append(
            msg_tenant.RingStep(
                targets=[self._target(ext)],
                timeout_s=ext.ring_timeout_s or validate.DEFAULT_RING_S,
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
        timeout = group.ring_timeout_s or validate.DEFAULT_RING_S
        if group.strategy == api_tenant.RING_IN_ORDER:
            for ext in members:
                decision.steps.append(
                    msg_tenant.RingStep(targets=[self._target(ext)], timeout_s=timeout)
                )
        elif members:
            decision.steps.append(
                msg_tenant.RingStep(targets=[self._target(e) for e in members], timeout_s=timeout)
            )

    # ---- active calls -----------------------------------------------------------------

    async def _call_started(
        self, state: msg_tenant.TenantState, msg: msg_tenant.CallStarted
    ) -> None:
        self.active_calls.add(msg.call_id)

    async def _call_ended(self, state: msg_tenant.TenantState, msg: msg_tenant.CallEnded) -> None:
        self.active_calls.discard(msg.call_id)

    async def _list_calls(
        self, state: msg_tenant.TenantState, msg: msg_tenant.ListActiveCallIds
    ) -> Message:
        return msg_tenant.ActiveCallIds(call_ids=sorted(self.active_calls))

    _handlers: dict[type, Callable] = {}  # filled below


def _is_open(hours: api_tenant.BusinessHours, now_ms: int) -> bool:
    """Whether ``now_ms`` falls in one of the opening intervals, in the tenant's zone."""
    zone = ZoneInfo(hours.timezone) if hours.timezone else UTC
    local = datetime.fromtimestamp(now_ms / 1000, tz=zone)
    minute = local.hour * 60 + local.minute
    return any(
        iv.weekday == local.weekday() and iv.start_minute <= minute < iv.end_minute
        for iv in hours.open
    )


TenantActor._handlers = {
    msg_tenant.GetTenant: TenantActor._get,
    msg_tenant.SetTenantStatus: TenantActor._set_status,
    msg_tenant.SetTenantPlan: TenantActor._set_plan,
    msg_tenant.AddNumbers: TenantActor._add_numbers,
    msg_tenant.RemoveNumber: TenantActor._remove_number,
    msg_tenant.VerifyKey: TenantActor._verify,
    msg_tenant.AdminOp: TenantActor._admin,
    msg_tenant.RegisterEndpoint: TenantActor._register,
    msg_tenant.UnregisterEndpoint: TenantActor._unregister,
    msg_tenant.ResolveCaller: TenantActor._resolve_caller,
    msg_tenant.RouteCall: TenantActor._route_call,
    msg_tenant.RouteInternal: TenantActor._route_internal,
    msg_tenant.CallStarted: TenantActor._call_started,
    msg_tenant.CallEnded: TenantActor._call_ended,
    msg_tenant.ListActiveCallIds: TenantActor._list_calls,
}

_ADMIN: dict[str, Callable] = {
    "get_config": TenantActor._get_config,
    "create_user": TenantActor._create_user,
    "delete_user": TenantActor._delete_user,
    "list_users": TenantActor._list_users,
    "put_extension": TenantActor._put_extension,
    "delete_extension": TenantActor._delete_extension,
    "list_extensions": TenantActor._list_extensions,
    "put_ring_group": TenantActor._put_ring_group,
    "delete_ring_group": TenantActor._delete_ring_group,
    "list_ring_groups": TenantActor._list_ring_groups,
    "route_number": TenantActor._route_number,
    "list_numbers": TenantActor._list_numbers,
    "set_business_hours": TenantActor._set_hours,
    "create_api_key": TenantActor._create_key,
    "revoke_api_key": TenantActor._revoke_key,
    "list_api_keys": TenantActor._list_keys,
}

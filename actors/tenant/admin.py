"""The TenantActor's administration: one ``AdminOp`` per TenantAdmin RPC.

Each op is validated completely before the state is touched, and the state is saved on
every change, so a failed check leaves nothing half-written. The op a message carries
(its ``op`` oneof) runs the method named ``_op_<oneof field>``.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.message import Message

from actors import recording_policy, validate
from actors.compliance.hipaa import PhiFeature, gate_feature_in_actor
from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.base import (
    MAX_EXTENSIONS,
    MAX_GROUP_MEMBERS,
    MAX_GROUPS,
    MAX_INTERVALS,
    MAX_KEYS,
    MAX_USERS,
    TENANT_ROLES,
    TenantParts,
    new_id,
)
from actors.tenant.transcription import turns_transcription_on
from fabric.actor import handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.edge.credentials import new_api_key
from fabric.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")
MAX_EMAIL = 254
MAX_LABEL = 100

READ_ONLY_OPS = frozenset({
    "get_config",
    "list_users",
    "list_extensions",
    "list_ring_groups",
    "list_numbers",
    "list_api_keys",
})
"""Ops a suspended or closed tenant may still run."""


class TenantAdmin(TenantParts):
    """Users, extensions, ring groups, number routes, business hours and API keys."""

    @handler
    async def on_admin(self, msg: msg_tenant.AdminOp) -> Message:
        """Run the op in ``msg`` for ``msg.principal`` (an admin or owner of this tenant)."""
        state = self._live()
        which = msg.WhichOneof("op")
        if which is None:
            raise InvalidArgument("empty request", error_id="empty-request")
        if state.status != api_carrier.TENANT_STATUS_ACTIVE and which not in READ_ONLY_OPS:
            raise FailedPrecondition(
                "the tenant is suspended or closed; ask the carrier", error_id="tenant-inactive"
            )
        run = getattr(self, f"_op_{which}")
        result: Message = await run(state, msg.principal, getattr(msg, which))
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

    async def _op_get_config(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return self._config(state, p, op)

    async def _op_create_user(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.CreateUserRequest,
    ) -> Message:
        validate.name(op.name)
        if op.role == api_common.ROLE_UNSPECIFIED:
            op.role = api_common.ROLE_MEMBER  # no role given: the least privileged one
        if op.role not in TENANT_ROLES:
            raise InvalidArgument(
                "role must be ROLE_OWNER, ROLE_ADMIN or ROLE_MEMBER (or unset for a member)",
                error_id="invalid-role", details={"field": "role"},
            )
        if op.role == api_common.ROLE_OWNER and p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may create owners", error_id="owner-only")
        if len(state.users) >= MAX_USERS:
            raise FailedPrecondition(f"a tenant has at most {MAX_USERS} users", error_id="limit")
        user = api_tenant.User(user_id=new_id("u"), name=op.name, role=op.role)
        state.users[user.user_id].CopyFrom(user)
        await self.ctx.save_state(state)
        return user

    async def _op_delete_user(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.UserRef
    ) -> Message:
        user = state.users.get(op.user_id)
        if user is None:
            raise NotFound(
                f"no user {op.user_id!r} (`fabric user list`)", error_id="user-not-found"
            )
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

    async def _op_update_user(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.UpdateUserRequest,
    ) -> Message:
        user = state.users.get(op.user_id)
        if user is None:
            raise NotFound(
                f"no user {op.user_id!r} (`fabric user list`)", error_id="user-not-found"
            )
        if user.role == api_common.ROLE_OWNER and p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may change owners", error_id="owner-only")
        if op.HasField("name"):
            validate.name(op.name)
        if op.HasField("email") and op.email and (
            len(op.email) > MAX_EMAIL or not EMAIL_RE.fullmatch(op.email)
        ):
            raise InvalidArgument(
                f"email must be empty or name@domain, at most {MAX_EMAIL} characters",
                error_id="invalid-email", details={"field": "email"},
            )
        if op.HasField("phone") and op.phone:
            validate.e164(op.phone, "phone")
        for field in ("name", "email", "phone"):
            if op.HasField(field):  # type: ignore[arg-type]
                setattr(user, field, getattr(op, field))
        await self.ctx.save_state(state)
        return user

    async def _op_list_users(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListUsersResponse(users=[state.users[k] for k in sorted(state.users)])

    async def _op_put_extension(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.PutExtensionRequest,
    ) -> Message:
        ext = api_tenant.Extension()
        ext.CopyFrom(op.extension)
        validate.extension(ext.extension)
        if ext.label and (len(ext.label) > MAX_LABEL or not ext.label.isprintable()):
            raise InvalidArgument(
                f"extension.label must be 0 to {MAX_LABEL} printable characters",
                error_id="invalid-label", details={"field": "extension.label"},
            )
        if ext.user_id not in state.users:
            raise InvalidArgument(
                f"extension.user_id must name a user of this tenant; {ext.user_id!r} is none "
                "(`fabric user list`, or ListUsers)",
                error_id="unknown-user",
            )
        ext.ring_timeout_s = validate.ring_timeout(ext.ring_timeout_s, "extension.ring_timeout_s")
        if ext.voicemail_transcription not in api_tenant.VoicemailTranscription.values():
            raise InvalidArgument(
                "extension.voicemail_transcription must be UNSPECIFIED, ON or OFF",
                error_id="invalid-transcription",
                details={"field": "extension.voicemail_transcription"},
            )
        fw = ext.forwarding
        if fw.mode not in (
            api_tenant.FORWARD_MODE_UNSPECIFIED,
            api_tenant.FORWARD_ALWAYS,
            api_tenant.FORWARD_NO_ANSWER,
        ):
            raise InvalidArgument("forwarding.mode is unknown", error_id="invalid-forwarding")
        if fw.mode != api_tenant.FORWARD_MODE_UNSPECIFIED and fw.to_number:
            if fw.to_extension:
                raise InvalidArgument(
                    "forwarding needs to_extension or to_number, not both",
                    error_id="invalid-forwarding",
                )
            validate.e164(fw.to_number, "forwarding.to_number")  # reached through a trunk
        elif fw.mode != api_tenant.FORWARD_MODE_UNSPECIFIED:
            validate.extension(fw.to_extension, "forwarding.to_extension")
            if fw.to_extension == ext.extension or fw.to_extension not in state.extensions:
                raise InvalidArgument(
                    f"forwarding.to_extension {fw.to_extension!r} must be another existing "
                    "extension, or use to_number for an outside number",
                    error_id="invalid-forwarding",
                )
        elif fw.to_extension or fw.to_number:
            raise InvalidArgument(
                "forwarding.to_extension/to_number must be empty unless forwarding.mode is set",
                error_id="invalid-forwarding",
            )
        if ext.extension not in state.extensions and len(state.extensions) >= MAX_EXTENSIONS:
            raise FailedPrecondition(
                f"a tenant has at most {MAX_EXTENSIONS} extensions", error_id="limit"
            )
        recording_policy.normalize(ext)
        before = state.extensions.get(ext.extension)
        if ext.recording_policy != recording_policy.OFF and (
                before is None or recording_policy.policy_of(before) == recording_policy.OFF):
            # recording can carry PHI: a Pro tenant needs a BAA on file (issue 14)
            await gate_feature_in_actor(self.ctx, state.tenant_id, state.plan,
                                        PhiFeature.RECORDING)
        if turns_transcription_on(state.plan, before, ext):  # PHI too (issue 14)
            await gate_feature_in_actor(self.ctx, state.tenant_id, state.plan,
                                        PhiFeature.VOICEMAIL_TRANSCRIPTION)
        state.extensions[ext.extension].CopyFrom(ext)
        await self.ctx.save_state(state)
        return ext

    def _references(self, state: msg_tenant.TenantState, extension: str) -> bool:
        if any(extension in g.extensions or extension == g.voicemail_extension
               for g in state.ring_groups.values()):
            return True
        if any(r.extension == extension for r in state.numbers.values()):
            return True
        if any(e.forwarding.to_extension == extension for e in state.extensions.values()):
            return True
        return state.business_hours.after_hours_extension == extension

    async def _op_delete_extension(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.ExtensionRef
    ) -> Message:
        validate.extension(op.extension)
        if op.extension not in state.extensions:
            raise NotFound(f"no extension {op.extension} (`fabric ext list`)",
                           error_id="extension-not-found")
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

    async def _op_list_extensions(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListExtensionsResponse(
            extensions=[state.extensions[k] for k in sorted(state.extensions)]
        )

    async def _op_put_ring_group(
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
        if group.voicemail_extension:
            validate.extension(group.voicemail_extension, "group.voicemail_extension")
            box = state.extensions.get(group.voicemail_extension)
            if box is None:
                raise InvalidArgument(
                    "group.voicemail_extension must name an existing extension (the group's "
                    "shared mailbox)", error_id="unknown-extension",
                    details={"field": "group.voicemail_extension"},
                )
            if not box.voicemail:
                raise InvalidArgument(
                    f"extension {box.extension} has voicemail off; turn it on "
                    f"(`fabric ext set {box.extension} --voicemail`) to make it the group's "
                    "shared mailbox", error_id="voicemail-off",
                    details={"field": "group.voicemail_extension"},
                )
        if group.group_id not in state.ring_groups and len(state.ring_groups) >= MAX_GROUPS:
            raise FailedPrecondition(f"a tenant has at most {MAX_GROUPS} groups", error_id="limit")
        state.ring_groups[group.group_id].CopyFrom(group)
        await self.ctx.save_state(state)
        return group

    async def _op_delete_ring_group(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.RingGroupRef
    ) -> Message:
        validate.group_id(op.group_id)
        if op.group_id not in state.ring_groups:
            raise NotFound(
                f"no ring group {op.group_id!r} (`fabric group list`)",
                error_id="ring-group-not-found",
            )
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

    async def _op_list_ring_groups(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListRingGroupsResponse(
            groups=[state.ring_groups[k] for k in sorted(state.ring_groups)]
        )

    async def _op_route_number(
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

    async def _op_list_numbers(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListNumbersResponse(
            routes=[state.numbers[k] for k in sorted(state.numbers)]
        )

    async def _op_set_business_hours(
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

    async def _op_create_api_key(
        self,
        state: msg_tenant.TenantState,
        p: msg_common.Principal,
        op: api_tenant.CreateApiKeyRequest,
    ) -> Message:
        user = state.users.get(op.user_id)
        if user is None:
            raise NotFound(
                f"no user {op.user_id!r} (`fabric user list`)", error_id="user-not-found"
            )
        if user.role == api_common.ROLE_OWNER and p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may make keys for owners", error_id="owner-only")
        if len(state.api_keys) >= MAX_KEYS:
            raise FailedPrecondition(f"a tenant has at most {MAX_KEYS} keys", error_id="limit")
        key_id, secret, digest = new_api_key(state.tenant_id)
        stored = state.api_keys[key_id]
        stored.key.CopyFrom(
            api_tenant.ApiKey(
                key_id=key_id, user_id=user.user_id, role=user.role, created_at_ms=self._now_ms()
            )
        )
        stored.secret_hash = digest
        await self.ctx.save_state(state)
        return api_tenant.CreateApiKeyResponse(key=stored.key, secret=secret)

    async def _op_revoke_api_key(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: api_tenant.ApiKeyRef
    ) -> Message:
        stored = state.api_keys.get(op.key_id)
        if stored is None:
            raise NotFound(
                f"no API key {op.key_id!r} (`fabric key list`)", error_id="key-not-found"
            )
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

    async def _op_list_api_keys(
        self, state: msg_tenant.TenantState, p: msg_common.Principal, op: Message
    ) -> Message:
        return api_tenant.ListApiKeysResponse(
            keys=[state.api_keys[k].key for k in sorted(state.api_keys)]
        )

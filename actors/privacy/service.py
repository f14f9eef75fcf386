"""The privacy operations, each tracked as a request with the policy's 30-day clock.

:class:`PrivacyService` runs where the data is read (the API gateway: its process's CDR,
content and message-record stores) and records each operation in the tenant's
PrivacyActor: ``begin`` (a new request, or the open one it answers) then ``finish`` with the
outcome. The gRPC servicer (:mod:`actors.api.privacy`) only maps requests to these calls.

Who: a tenant's owners and admins act on their own tenant (the principal's). The operator
may export, list requests and read retention of a CLOSED tenant (whose keys are gone),
until its account retention after closure is over.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import TypeVar

from google.protobuf.message import Message

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.privacy import subjects
from actors.privacy.erasure import Erased, erase_object, erase_subject
from actors.privacy.export import Export
from actors.privacy.restrictions import privacy_address
from actors.privacy.sources import Sources, cdrs, mdrs, subject_objects
from actors.privacy.subjects import Subject
from actors.tenant import tenant_address
from fabric.actor import ActorSystem
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.clock import Clock, SystemClock
from fabric.errors import (
    FabricError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)

R = TypeVar("R", bound=Message)
DAY_MS = 86_400_000


class PrivacyService:
    """Export, erasure, correction, restriction and retention for one process's stores."""

    def __init__(self, system: ActorSystem, src: Sources, clock: Clock | None = None) -> None:
        self.system = system
        self.src = src
        self.clock = clock or SystemClock()

    # ---- plumbing -----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    async def _privacy(self, tenant_id: str, msg: Message, reply: type[R]) -> R:
        return await self.system.ref(privacy_address(tenant_id)).ask(msg, reply=reply)

    async def _admin(self, p: msg_common.Principal, field: str, op: Message, reply: type[R]) -> R:
        admin = msg_tenant.AdminOp(principal=p)
        getattr(admin, field).CopyFrom(op)
        return await self.system.ref(tenant_address(p.tenant_id)).ask(admin, reply=reply)

    async def _config(self, p: msg_common.Principal) -> api_tenant.TenantConfig:
        return await self._admin(p, "get_config", api_tenant.TenantConfigRequest(),
                                 api_tenant.TenantConfig)

    async def _tenant(self, tenant_id: str) -> api_carrier.Tenant:
        return await self.system.ref(tenant_address(tenant_id)).ask(
            msg_tenant.GetTenant(), reply=api_carrier.Tenant
        )

    async def _since_ms(self, tenant_id: str) -> int:
        """Where record scans start: the tenant's creation, a day early."""
        return max(0, (await self._tenant(tenant_id)).created_at_ms - DAY_MS)

    async def resolve(self, p: msg_common.Principal, subject: str) -> Subject:
        """The subject in the caller's tenant; ``subject-not-found`` when the tenant has no
        data about it (a user of another tenant, a number in none of its records)."""
        config = await self._config(p)
        found = subjects.resolve(subject, config)
        if found.user is None and not await self._has_data(p.tenant_id, found):
            raise subjects.absent()
        return found

    async def _has_data(self, tenant_id: str, subject: Subject) -> bool:
        since, until = await self._since_ms(tenant_id), self._now_ms() + 1
        async for _ in cdrs(self.src, tenant_id, since, until, subject):
            return True
        async for _ in mdrs(self.src, tenant_id, since, until, subject):
            return True
        groups = await subject_objects(self.src, tenant_id, subject, self.clock.now())
        return any(groups.values())

    async def begin(
        self, p: msg_common.Principal, kind: int, subject: str, request_id: str = "",
        *, received_at_ms: int = 0, note: str = "", export_as_of_ms: int = 0,
    ) -> api_privacy.PrivacyRequest:
        """Open a request (or adopt the open one named); its clock runs until finish."""
        return await self._privacy(p.tenant_id, msg_privacy.BeginRequest(
            principal=p, kind=kind, subject=subject, request_id=request_id,  # type: ignore[arg-type]
            received_at_ms=received_at_ms, note=note, export_as_of_ms=export_as_of_ms,
        ), api_privacy.PrivacyRequest)

    async def finish(
        self, p: msg_common.Principal, request_id: str, status: int, outcome: str, **extra: Message
    ) -> api_privacy.PrivacyRequest:
        """Close a request with its outcome."""
        msg = msg_privacy.FinishRequest(
            principal=p, request_id=request_id, status=status, outcome=outcome,  # type: ignore[arg-type]
        )
        for name, value in extra.items():
            getattr(msg, name).CopyFrom(value)
        return await self._privacy(p.tenant_id, msg, api_privacy.PrivacyRequest)

    async def _failed(self, p: msg_common.Principal, request_id: str, err: FabricError) -> None:
        try:
            await self.finish(p, request_id, api_privacy.REQUEST_FAILED, f"failed: {err.error_id}")
        except FabricError:
            pass  # the original error is the answer

    async def check_operator_access(self, p: msg_common.Principal) -> None:
        """The operator acts only on a closed tenant whose account data is still kept."""
        if p.role != api_common.ROLE_OPERATOR:
            return
        if not p.tenant_id:
            raise InvalidArgument(
                "tenant_id is required for the operator (a closed tenant's id)",
                error_id="tenant-id-required", details={"field": "tenant_id"},
            )
        tenant = await self._tenant(p.tenant_id)  # NotFound tenant-not-found once purged
        if tenant.status != api_carrier.TENANT_STATUS_CLOSED:
            raise FailedPrecondition(
                "the operator reaches only a closed tenant's privacy data; an open tenant acts "
                "with its own keys",
                error_id="tenant-not-closed",
            )

    # ---- requests -----------------------------------------------------------------------

    async def open_request(
        self, p: msg_common.Principal, req: api_privacy.OpenRequestRequest
    ) -> api_privacy.PrivacyRequest:
        """Log a request received elsewhere."""
        if req.subject:
            await self.resolve(p, req.subject)
        return await self.begin(p, req.kind, req.subject, received_at_ms=req.received_at_ms,
                                note=req.note)

    async def withdraw(
        self, p: msg_common.Principal, req: api_privacy.WithdrawRequestRequest
    ) -> api_privacy.PrivacyRequest:
        """Close an open request without an operation."""
        if not req.reason.strip() or len(req.reason) > 200 or not req.reason.isprintable():
            raise InvalidArgument("reason must be 1-200 printable characters",
                                  error_id="invalid-reason", details={"field": "reason"})
        return await self.finish(p, req.request_id, api_privacy.REQUEST_WITHDRAWN,
                                 f"withdrawn: {req.reason}")

    async def get_request(
        self, p: msg_common.Principal, request_id: str
    ) -> api_privacy.PrivacyRequest:
        """One request."""
        return await self._privacy(p.tenant_id, msg_privacy.GetRequest(request_id=request_id),
                                   api_privacy.PrivacyRequest)

    async def list_requests(
        self, p: msg_common.Principal, open_only: bool
    ) -> api_privacy.ListRequestsResponse:
        """The tenant's requests, newest first."""
        await self.check_operator_access(p)
        return await self._privacy(p.tenant_id, msg_privacy.ListRequests(open_only=open_only),
                                   api_privacy.ListRequestsResponse)

    # ---- export -------------------------------------------------------------------------

    async def export(
        self, p: msg_common.Principal, req: api_privacy.ExportRequest
    ) -> AsyncIterator[api_privacy.ExportEvent]:
        """Build and stream the zip; the request completes when the last byte is out."""
        await self.check_operator_access(p)
        finish = True
        if req.request_id:
            held = await self._privacy(
                p.tenant_id, msg_privacy.GetExportAsOf(request_id=req.request_id),
                msg_privacy.ExportAsOf,
            )
            if req.subject and req.subject != held.subject:
                raise FailedPrecondition("this export was of another subject",
                                         error_id="request-mismatch")
            request = await self.get_request(p, req.request_id)
            finish = request.status == api_privacy.REQUEST_OPEN
            subject_id, as_of_ms = held.subject, held.as_of_ms
        else:
            subject_id, as_of_ms = req.subject, self._now_ms()
        subject = await self.resolve(p, subject_id) if subject_id else None
        config = await self._config(p)
        if not req.request_id:
            request = await self.begin(p, api_privacy.REQUEST_EXPORT, subject_id,
                                       export_as_of_ms=as_of_ms)
        restrictions = await self._privacy(p.tenant_id, msg_privacy.ListRestrictions(),
                                           api_privacy.ListRestrictionsResponse)
        retention = await self._privacy(p.tenant_id, msg_privacy.GetRetention(),
                                        api_privacy.RetentionPolicy)
        build = Export(
            self.src, p.tenant_id, request_id=request.request_id, subject=subject,
            as_of_ms=as_of_ms, since_ms=await self._since_ms(p.tenant_id), config=config,
            restrictions=list(restrictions.restrictions), retention=retention,
            offset=req.offset,
        )
        try:
            async for event in build.events():
                if event.HasField("done") and finish:
                    counts = ", ".join(f"{k} {v}" for k, v in sorted(build.counts.items()))
                    await self.finish(
                        p, request.request_id, api_privacy.REQUEST_COMPLETED,
                        f"exported {build.summary.files} files, {build.summary.total_bytes} "
                        f"bytes: {counts}", export=build.summary,
                    )
                yield event
        except FabricError as err:
            if finish:
                await self._failed(p, request.request_id, err)
            raise

    # ---- erasure ------------------------------------------------------------------------

    async def erase(
        self, p: msg_common.Principal, req: api_privacy.EraseRequest
    ) -> api_privacy.EraseResponse:
        """Erase a subject's content (and account data) or one object."""
        which = req.WhichOneof("target")
        if which is None:
            raise InvalidArgument("give a subject or an object to erase",
                                  error_id="missing-target", details={"field": "target"})
        subject = await self.resolve(p, req.subject) if which == "subject" else None
        if subject is not None and subject.user is not None:
            await self._check_user_erasable(p, subject.user)
        request = await self.begin(p, api_privacy.REQUEST_ERASE,
                                   subject.subject if subject else "", req.request_id)
        try:
            if subject is None:
                done = await erase_object(self.src, p.tenant_id, req.object.data_class,
                                          req.object.object_id)
                account = ""
            else:
                done = await erase_subject(self.src, p.tenant_id, subject,
                                           await self._since_ms(p.tenant_id), self.clock.now())
                account = await self._erase_account(p, subject, done) if subject.user else ""
        except FabricError as err:
            await self._failed(p, request.request_id, err)
            raise
        answer = done.response(account)
        answer.request_id = request.request_id
        await self.finish(p, request.request_id, api_privacy.REQUEST_COMPLETED,
                          done.outcome(account), erasure=answer)
        return answer

    async def _check_user_erasable(self, p: msg_common.Principal, user: api_tenant.User) -> None:
        if user.role != api_common.ROLE_OWNER:
            return
        if p.role != api_common.ROLE_OWNER:
            raise PermissionDenied("only an owner may erase an owner", error_id="owner-only")
        config = await self._config(p)
        if sum(u.role == api_common.ROLE_OWNER for u in config.users) == 1:
            raise FailedPrecondition(
                "the tenant's only owner cannot be erased; make another owner first",
                error_id="last-owner",
            )

    async def _erase_account(self, p: msg_common.Principal, subject: Subject, done: Erased) -> str:
        """Remove the user, or pseudonymise them where kept CDRs name their extensions."""
        user_id = subject.subject
        keys = await self._admin(p, "list_api_keys", api_tenant.ListApiKeysRequest(),
                                 api_tenant.ListApiKeysResponse)
        for key in keys.keys:
            if key.user_id == user_id:
                await self._admin(p, "revoke_api_key", api_tenant.ApiKeyRef(key_id=key.key_id),
                                  api_tenant.Empty)
        if not subject.extensions and not done.cdrs_kept:
            await self._admin(p, "delete_user", api_tenant.UserRef(user_id=user_id),
                              api_tenant.Empty)
            return "removed"
        await self._admin(p, "update_user", api_tenant.UpdateUserRequest(
            user_id=user_id, name=f"erased-{secrets.token_hex(4)}", email="", phone="",
        ), api_tenant.User)
        config = await self._config(p)
        for ext in config.extensions:
            if ext.user_id == user_id and ext.label:
                ext.label = ""
                await self._admin(p, "put_extension", api_tenant.PutExtensionRequest(extension=ext),
                                  api_tenant.Extension)
        return "pseudonymised"

    # ---- correction, restriction, retention ---------------------------------------------

    async def correct(
        self, p: msg_common.Principal, req: api_privacy.CorrectRequest
    ) -> api_privacy.CorrectResponse:
        """Correct a user's name and contact fields or an extension's label."""
        which = req.WhichOneof("target")
        if which is None:
            raise InvalidArgument("give a user or an extension to correct",
                                  error_id="missing-target", details={"field": "target"})
        subject = req.user.user_id if which == "user" else ""
        if subject:
            subjects.check(subject, "user.user_id")
            await self.resolve(p, subject)
        request = await self.begin(p, api_privacy.REQUEST_CORRECT, subject, req.request_id)
        answer = api_privacy.CorrectResponse(request_id=request.request_id)
        try:
            if which == "user":
                update = api_tenant.UpdateUserRequest(user_id=req.user.user_id)
                for name in ("name", "email", "phone"):
                    if req.user.HasField(name):  # type: ignore[arg-type]
                        setattr(update, name, getattr(req.user, name))
                answer.user.CopyFrom(await self._admin(p, "update_user", update, api_tenant.User))
                outcome = "corrected user fields: " + ", ".join(
                    n for n in ("name", "email", "phone") if update.HasField(n)  # type: ignore[arg-type]
                )
            else:
                answer.extension.CopyFrom(await self._relabel(p, req.extension))
                outcome = "corrected extension label"
        except FabricError as err:
            await self._failed(p, request.request_id, err)
            raise
        await self.finish(p, request.request_id, api_privacy.REQUEST_COMPLETED, outcome)
        return answer

    async def _relabel(
        self, p: msg_common.Principal, req: api_privacy.CorrectExtension
    ) -> api_tenant.Extension:
        config = await self._config(p)
        for ext in config.extensions:
            if ext.extension == req.extension:
                ext.label = req.label
                return await self._admin(p, "put_extension",
                                         api_tenant.PutExtensionRequest(extension=ext),
                                         api_tenant.Extension)
        raise NotFound(f"no extension {req.extension!r} (`fabric ext list`)",
                       error_id="extension-not-found")

    async def set_restriction(
        self, p: msg_common.Principal, req: api_privacy.SetRestrictionRequest
    ) -> api_privacy.SetRestrictionResponse:
        """Restrict a subject (a user of the tenant, or any outside number) or lift it."""
        subjects.check(req.subject)
        if not subjects.is_number(req.subject):
            await self.resolve(p, req.subject)
        request = await self.begin(p, api_privacy.REQUEST_RESTRICT, req.subject, req.request_id)
        r = await self._privacy(p.tenant_id, msg_privacy.SetRestriction(
            principal=p, subject=req.subject, restricted=req.restricted,
        ), api_privacy.Restriction)
        await self.finish(p, request.request_id, api_privacy.REQUEST_COMPLETED,
                          "restricted" if req.restricted else "restriction lifted")
        return api_privacy.SetRestrictionResponse(restriction=r, request_id=request.request_id)

    async def list_restrictions(
        self, p: msg_common.Principal
    ) -> api_privacy.ListRestrictionsResponse:
        """Every restriction of the tenant."""
        return await self._privacy(p.tenant_id, msg_privacy.ListRestrictions(),
                                   api_privacy.ListRestrictionsResponse)

    async def get_retention(self, p: msg_common.Principal) -> api_privacy.RetentionPolicy:
        """The tenant's periods."""
        await self.check_operator_access(p)
        return await self._privacy(p.tenant_id, msg_privacy.GetRetention(),
                                   api_privacy.RetentionPolicy)

    async def set_retention(
        self, p: msg_common.Principal, req: api_privacy.SetRetentionRequest
    ) -> api_privacy.RetentionPolicy:
        """Shorten the tenant's periods."""
        return await self._privacy(p.tenant_id, msg_privacy.SetRetention(policy=req.policy),
                                   api_privacy.RetentionPolicy)

"""The PrivacyActor: a tenant's privacy requests, restrictions and retention.

Kind ``privacy``, key = tenant id. One sealed state per tenant holds every open request and
the last :data:`KEEP_CLOSED` closed ones (the 30-day clock: received, deadline, status,
completed, by whom), the restriction flag of each subject, and the tenant's own retention
periods. The work of an export or an erasure runs where the data is read (the API gateway,
:mod:`actors.privacy.service`); this actor records it.

Retention runs on durable reminders, never a timer of one process: ``retention-sweep``
(while the tenant has a content period) deletes voicemail, recordings and SMS bodies older
than their period, then sets itself for the next object's expiry (at most a day ahead);
``account-purge`` (set when the tenant is closed) deletes the account data and destroys the
tenant key once the account retention after closure is over. CDRs and message records are
never deleted here (their 7 years are the stores' TTL) and stay readable: their record keys
and the blind-index key are first re-wrapped under the root key (``Vault.retain_record_keys``),
and ``records-purge``, 7 years after the closure (when the last record's TTL has run out),
destroys those keys too.
"""

from __future__ import annotations

import logging
import secrets

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import privacy_pb2 as msg_privacy
from actors.privacy import policy
from actors.privacy.index import INDEX
from actors.privacy.restrictions import KIND
from actors.privacy.retention import purge_content, sweep_content
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.api.v1 import common_pb2 as api_common
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound
from fabric.storage.cdr_seal import DATA_CLASS as CDR_CLASS
from fabric.storage.mdr import DATA_CLASS as MDR_CLASS
from fabric.vault.content import ContentStore
from fabric.vault.vault import Vault

log = logging.getLogger(__name__)

KEEP_CLOSED = 1000
SWEEP = "retention-sweep"
PURGE = "account-purge"
RECORDS_PURGE = "records-purge"
RECORD_CLASSES = (CDR_CLASS, MDR_CLASS)
"""The records kept 7 years, past the account: their keys outlive the tenant key."""
KINDS = (
    api_privacy.REQUEST_EXPORT,
    api_privacy.REQUEST_ERASE,
    api_privacy.REQUEST_CORRECT,
    api_privacy.REQUEST_RESTRICT,
)
CLOSED = (api_privacy.REQUEST_COMPLETED, api_privacy.REQUEST_FAILED, api_privacy.REQUEST_WITHDRAWN)


def who(p: msg_common.Principal) -> str:
    """The name a request records for a principal: its user id, or "operator"."""
    return "operator" if p.role == api_common.ROLE_OPERATOR else p.user_id


class PrivacyActor(VirtualActor[str]):
    """A tenant's privacy requests, restrictions and retention (see the module doc)."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the state (empty for a tenant without any yet)."""
        loaded = await self.ctx.load_state(msg_privacy.PrivacyState)
        self.state = loaded or msg_privacy.PrivacyState(tenant_id=self.key)

    def _now_ms(self) -> int:
        return int(self.ctx.clock.now() * 1000)

    def _require_data(self) -> None:
        if self.state.account_purged:
            raise NotFound(
                "the tenant's account data was deleted after its retention",
                error_id="tenant-not-found",
            )

    def _request(self, request_id: str) -> api_privacy.PrivacyRequest:
        req = self.state.requests.get(request_id)
        if req is None:
            raise NotFound(
                f"no privacy request {request_id!r} (`fabric privacy requests`)",
                error_id="request-not-found",
            )
        return req

    # ---- requests ---------------------------------------------------------------------

    @handler
    async def on_begin(self, msg: msg_privacy.BeginRequest) -> api_privacy.PrivacyRequest:
        """Open a request (or adopt an open logged one): its 30-day clock starts."""
        self._require_data()
        if msg.kind not in KINDS:
            raise InvalidArgument(
                "kind must be REQUEST_EXPORT, REQUEST_ERASE, REQUEST_CORRECT or REQUEST_RESTRICT",
                error_id="invalid-request-kind", details={"field": "kind"},
            )
        if msg.request_id:
            req = self._request(msg.request_id)
            if req.status != api_privacy.REQUEST_OPEN:
                raise FailedPrecondition(
                    "this request is already closed; answer an open one or none",
                    error_id="request-not-open",
                )
            if req.kind != msg.kind or (req.subject and req.subject != msg.subject):
                raise FailedPrecondition(
                    "this request asks for another kind or subject than this operation",
                    error_id="request-mismatch",
                )
            return req
        now = self._now_ms()
        received = msg.received_at_ms or now
        if received > now or received < now - policy.RESPONSE_DAYS * policy.DAY_MS:
            raise InvalidArgument(
                "received_at_ms must be in the last 30 days and not in the future (0 = now)",
                error_id="invalid-received-at", details={"field": "received_at_ms"},
            )
        req = api_privacy.PrivacyRequest(
            request_id=f"pr-{secrets.token_hex(8)}",
            kind=msg.kind,
            subject=msg.subject,
            received_at_ms=received,
            deadline_ms=policy.deadline_ms(received),
            status=api_privacy.REQUEST_OPEN,
            received_by=who(msg.principal),
            outcome=msg.note[:200],
        )
        self.state.requests[req.request_id].CopyFrom(req)
        if msg.export_as_of_ms:
            self.state.exports_as_of[req.request_id] = msg.export_as_of_ms
        await self.ctx.save_state(self.state)
        await self.ctx.system.ref(INDEX).ask(
            msg_privacy.IndexRequestOpen(
                tenant_id=self.key, request_id=req.request_id, received_at_ms=received
            )
        )
        return req

    @handler
    async def on_finish(self, msg: msg_privacy.FinishRequest) -> api_privacy.PrivacyRequest:
        """Close a request with its outcome (completed, failed or withdrawn)."""
        req = self._request(msg.request_id)
        if req.status != api_privacy.REQUEST_OPEN:
            raise FailedPrecondition(
                "this request is already closed", error_id="request-not-open"
            )
        if msg.status not in CLOSED:
            raise InvalidArgument("status must close the request", error_id="invalid-status")
        req.status = msg.status
        req.completed_at_ms = self._now_ms()
        req.completed_by = who(msg.principal)
        req.outcome = msg.outcome[:500]
        if msg.HasField("export"):
            req.export.CopyFrom(msg.export)
        if msg.HasField("erasure"):
            req.erasure.CopyFrom(msg.erasure)
        if msg.export_as_of_ms:
            self.state.exports_as_of[req.request_id] = msg.export_as_of_ms
        self._trim()
        await self.ctx.save_state(self.state)
        await self.ctx.system.ref(INDEX).ask(
            msg_privacy.IndexRequestClosed(tenant_id=self.key, request_id=req.request_id)
        )
        return req

    def _trim(self) -> None:
        closed = sorted(
            (r for r in self.state.requests.values() if r.status in CLOSED),
            key=lambda r: (r.completed_at_ms, r.request_id),
        )
        for old in closed[: max(0, len(closed) - KEEP_CLOSED)]:
            del self.state.requests[old.request_id]
            if old.request_id in self.state.exports_as_of:
                del self.state.exports_as_of[old.request_id]

    @handler
    async def on_get(self, msg: msg_privacy.GetRequest) -> api_privacy.PrivacyRequest:
        """One request."""
        return self._request(msg.request_id)

    @handler
    async def on_list(self, msg: msg_privacy.ListRequests) -> api_privacy.ListRequestsResponse:
        """Requests, newest first."""
        reqs = [
            r for r in self.state.requests.values()
            if not msg.open_only or r.status == api_privacy.REQUEST_OPEN
        ]
        reqs.sort(key=lambda r: (r.received_at_ms, r.request_id), reverse=True)
        return api_privacy.ListRequestsResponse(requests=reqs)

    @handler
    async def on_export_as_of(self, msg: msg_privacy.GetExportAsOf) -> msg_privacy.ExportAsOf:
        """The time an earlier export was built as of (to rebuild it for a resume)."""
        req = self._request(msg.request_id)
        as_of = self.state.exports_as_of.get(msg.request_id, 0)
        if req.kind != api_privacy.REQUEST_EXPORT or not as_of:
            raise NotFound(
                "no export with this request id (`fabric privacy requests`)",
                error_id="request-not-found",
            )
        return msg_privacy.ExportAsOf(as_of_ms=as_of, subject=req.subject)

    # ---- restrictions -----------------------------------------------------------------

    @handler
    async def on_set_restriction(self, msg: msg_privacy.SetRestriction) -> api_privacy.Restriction:
        """Restrict a subject or lift it."""
        self._require_data()
        r = api_privacy.Restriction(
            subject=msg.subject, restricted=msg.restricted, since_ms=self._now_ms(),
            set_by=who(msg.principal),
        )
        self.state.restrictions[msg.subject].CopyFrom(r)
        await self.ctx.save_state(self.state)
        return r

    @handler
    async def on_check(self, msg: msg_privacy.CheckRestriction) -> msg_privacy.RestrictionVerdict:
        """Whether any of the subjects is restricted."""
        found = any(
            (r := self.state.restrictions.get(s)) is not None and r.restricted
            for s in msg.subjects
        )
        return msg_privacy.RestrictionVerdict(restricted=found)

    @handler
    async def on_list_restrictions(
        self, msg: msg_privacy.ListRestrictions
    ) -> api_privacy.ListRestrictionsResponse:
        """Every restriction, by subject."""
        return api_privacy.ListRestrictionsResponse(
            restrictions=[self.state.restrictions[k] for k in sorted(self.state.restrictions)]
        )

    # ---- retention --------------------------------------------------------------------

    @handler
    async def on_get_retention(self, msg: msg_privacy.GetRetention) -> api_privacy.RetentionPolicy:
        """The tenant's periods (its own and the fixed ones)."""
        return policy.effective(self.state.retention)

    @handler
    async def on_set_retention(self, msg: msg_privacy.SetRetention) -> api_privacy.RetentionPolicy:
        """Shorten periods (never lengthen); schedules the sweep or the purge anew."""
        self._require_data()
        self.state.retention.CopyFrom(policy.changed(self.state.retention, msg.policy))
        await self.ctx.save_state(self.state)
        await self._schedule_sweep(0.0)
        if self.state.closed_at_ms:
            await self._schedule_purge()
        return policy.effective(self.state.retention)

    def _content_periods(self) -> bool:
        r = self.state.retention
        return any(r.HasField(f) for f in ("voicemail_days", "recording_days", "sms_days"))

    async def _schedule_sweep(self, delay_s: float) -> None:
        if self._content_periods() and not self.state.account_purged:
            await self.ctx.set_reminder(SWEEP, max(0.0, delay_s))
        else:
            await self.ctx.cancel_reminder(SWEEP)

    async def _schedule_purge(self) -> None:
        due_ms = policy.account_purge_at_ms(self.state.closed_at_ms, self.state.retention)
        await self.ctx.set_reminder(PURGE, max(0.0, (due_ms - self._now_ms()) / 1000))

    async def _schedule_records_purge(self) -> None:
        due_ms = policy.records_purge_at_ms(self.state.closed_at_ms)
        await self.ctx.set_reminder(RECORDS_PURGE, max(0.0, (due_ms - self._now_ms()) / 1000))

    @handler
    async def on_tenant_closed(self, msg: msg_privacy.TenantClosed) -> msg_privacy.PrivacyStatus:
        """The account retention after closure starts: schedule the purge."""
        if not self.state.closed_at_ms:
            self.state.closed_at_ms = msg.closed_at_ms or self._now_ms()
            await self.ctx.save_state(self.state)
        await self._schedule_purge()
        return self._status()

    @handler
    async def on_status(self, msg: msg_privacy.GetPrivacyStatus) -> msg_privacy.PrivacyStatus:
        """Closed when, purged or not."""
        return self._status()

    def _status(self) -> msg_privacy.PrivacyStatus:
        return msg_privacy.PrivacyStatus(
            closed_at_ms=self.state.closed_at_ms, account_purged=self.state.account_purged
        )

    async def on_reminder(self, name: str) -> None:
        """Run the content sweep or the account purge (see the module doc)."""
        if name == SWEEP:
            store = self.ctx.service(ContentStore)
            deleted, next_s = await sweep_content(
                store, self.key, self.state.retention, self.ctx.clock.now()
            )
            if deleted:
                log.info("retention deleted %d content objects of a tenant", deleted)
            await self._schedule_sweep(next_s)
        elif name == PURGE:
            await self._purge()
        elif name == RECORDS_PURGE:
            await self._purge_records()

    async def _purge_records(self) -> None:
        """The last CDR and message record of the closed tenant has expired: destroy the
        keys kept for them."""
        if not self.state.closed_at_ms:
            return
        if self._now_ms() < policy.records_purge_at_ms(self.state.closed_at_ms):
            await self._schedule_records_purge()
            return
        await self.ctx.service(Vault).destroy_retained_keys(self.key, RECORD_CLASSES)
        log.info("closed tenant's record keys destroyed at the end of the records' period")

    async def _purge(self) -> None:
        if self.state.account_purged or not self.state.closed_at_ms:
            return
        due_ms = policy.account_purge_at_ms(self.state.closed_at_ms, self.state.retention)
        if self._now_ms() < due_ms:  # the period was changed meanwhile
            await self._schedule_purge()
            return
        try:
            await self.ctx.system.ref(ActorAddress("tenant", self.key)).ask(
                msg_privacy.PurgeTenant()
            )
        except NotFound:
            pass  # already gone
        except FailedPrecondition:  # the closure was never saved (tenant-not-closed)
            self.state.closed_at_ms = 0
            await self.ctx.save_state(self.state)
            return
        await purge_content(self.ctx.service(ContentStore), self.key)
        vault = self.ctx.service(Vault)
        await vault.retain_record_keys(self.key, RECORD_CLASSES)  # before the tenant key goes
        await self._schedule_records_purge()
        await vault.destroy_tenant(self.key)
        self.state.account_purged = True
        self.state.restrictions.clear()
        for req in self.state.requests.values():
            req.subject = ""  # the subjects were account data too
        await self.ctx.save_state(self.state)
        await self.ctx.cancel_reminder(SWEEP)
        log.info("closed tenant's account data deleted and its key destroyed")

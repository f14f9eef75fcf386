"""Erasure of content: a subject's objects, or one object, deleted through the vault.

Deleting makes an object unreadable at once and schedules its key's destruction after the
backup window (:meth:`fabric.vault.content.ContentStore.delete`); a voicemail or recording
takes its transcripts (``parent`` metadata) with it. CDRs and message detail records are
never deleted here: they are counted and reported as kept, with the regulatory reason
(:mod:`actors.privacy.policy`). The subject's account data is handled by
:mod:`actors.privacy.service` (it needs the tenant's actor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.privacy import policy
from actors.privacy.retention import delete_with_children, transcript_parents
from actors.privacy.sources import Sources, cdrs, mdrs, subject_objects
from actors.privacy.subjects import Subject
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.vault.content import TRANSCRIPT


@dataclass(slots=True)
class Erased:
    """What an erasure of content did."""

    deleted: dict[str, int] = field(default_factory=dict)
    keys_due: float = 0.0
    cdrs_kept: int = 0
    mdrs_kept: int = 0

    def response(self, account: str = "") -> api_privacy.EraseResponse:
        """The public answer (without its request id)."""
        kept = [api_privacy.KeptRecords(
            data_class="cdr", count=self.cdrs_kept, reason=policy.CDR_REASON,
            retention_days=policy.CDR_DAYS,
        )]
        if self.mdrs_kept:
            kept.append(api_privacy.KeptRecords(
                data_class="message-record", count=self.mdrs_kept, reason=policy.MDR_REASON,
                retention_days=policy.CDR_DAYS,
            ))
        return api_privacy.EraseResponse(
            deleted={k: v for k, v in self.deleted.items() if v},
            keys_destroyed_at_ms=int(self.keys_due * 1000), kept=kept, account=account,
        )

    def outcome(self, account: str = "") -> str:
        """A one-line summary for the request log (counts only, no personal data)."""
        parts = [f"deleted {k} {v}" for k, v in sorted(self.deleted.items()) if v] or [
            "no content to delete"
        ]
        parts.append(f"kept {self.cdrs_kept} CDRs and {self.mdrs_kept} message records "
                     "(regulatory retention, 7 years)")
        if account:
            parts.append(f"account {account}")
        return "; ".join(parts)


async def count_kept(
    src: Sources, tenant_id: str, subject: Subject, since_ms: int, until_ms: int, out: Erased
) -> None:
    """Count the subject's CDRs and message records (kept, never deleted)."""
    out.cdrs_kept = sum([1 async for _ in cdrs(src, tenant_id, since_ms, until_ms, subject)])
    out.mdrs_kept = sum([1 async for _ in mdrs(src, tenant_id, since_ms, until_ms, subject)])


async def erase_subject(
    src: Sources, tenant_id: str, subject: Subject, since_ms: int, now: float
) -> Erased:
    """Delete every content object of the subject; count what is kept."""
    out = Erased()
    groups = await subject_objects(src, tenant_id, subject, now)
    # transcripts first: a parent's delete below would otherwise look for them again
    for data_class in sorted(groups, key=lambda c: c != TRANSCRIPT):
        for info in groups[data_class]:
            due = await src.content.delete(tenant_id, data_class, info.object_id)
            out.deleted[data_class] = out.deleted.get(data_class, 0) + 1
            out.keys_due = max(out.keys_due, due)
    await count_kept(src, tenant_id, subject, since_ms, int(now * 1000) + 1, out)
    return out


async def erase_object(src: Sources, tenant_id: str, data_class: str, object_id: str) -> Erased:
    """Delete one object (and its transcripts); its call's CDR, if it names one, is kept."""
    info = await src.content.info(tenant_id, data_class, object_id)  # NotFound if absent
    children = await transcript_parents(src.content, tenant_id)
    n, due = await delete_with_children(src.content, tenant_id, data_class, object_id, children)
    out = Erased(keys_due=due)
    out.deleted[data_class] = 1
    if n > 1:
        out.deleted[TRANSCRIPT] = out.deleted.get(TRANSCRIPT, 0) + n - 1
    out.cdrs_kept = 1 if info.metadata.get("call_id") else 0
    return out

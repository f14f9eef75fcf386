"""Retention of sealed content: the sweep that deletes what outlived the tenant's period.

Voicemail, recordings and SMS bodies are kept until deleted unless the tenant set a period
(``RetentionPolicy.voicemail_days`` ...): then each object is deleted once ``created + days``
has passed (its transcript with it, by the transcript's ``parent`` metadata), which makes it
unreadable at once and destroys its key after the vault's backup window. Called from the
PrivacyActor's durable ``retention-sweep`` reminder.
"""

from __future__ import annotations

from actors.privacy.policy import DAY_S
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.vault.content import (
    CONTENT_CLASSES,
    RECORDING,
    SMS_BODY,
    TRANSCRIPT,
    VOICEMAIL,
    ContentStore,
)

PERIODS = ((VOICEMAIL, "voicemail_days"), (RECORDING, "recording_days"), (SMS_BODY, "sms_days"))


async def delete_with_children(
    store: ContentStore, tenant_id: str, data_class: str, object_id: str,
    children: dict[str, list[str]],
) -> tuple[int, float]:
    """Delete an object and the transcripts whose ``parent`` it is; (count, key due time)."""
    due = await store.delete(tenant_id, data_class, object_id)
    n = 1
    for child in children.get(object_id, []):
        due = max(due, await store.delete(tenant_id, TRANSCRIPT, child))
        n += 1
    return n, due


async def transcript_parents(store: ContentStore, tenant_id: str) -> dict[str, list[str]]:
    """parent object id -> its transcripts' object ids."""
    out: dict[str, list[str]] = {}
    for info in await store.list(tenant_id, TRANSCRIPT):
        parent = info.metadata.get("parent")
        if parent:
            out.setdefault(parent, []).append(info.object_id)
    return out


async def sweep_content(
    store: ContentStore, tenant_id: str, own: api_privacy.RetentionPolicy, now: float
) -> tuple[int, float]:
    """Delete the objects past their period; return (objects deleted, seconds until the next
    object expires, at most a day: new objects arrive without telling the sweep)."""
    next_s = float(DAY_S)
    deleted = 0
    children: dict[str, list[str]] | None = None
    for data_class, field in PERIODS:
        if not own.HasField(field):  # type: ignore[arg-type]
            continue
        period = getattr(own, field) * DAY_S
        for info in await store.list(tenant_id, data_class):
            expires = info.created + period
            if expires <= now:
                if children is None:
                    children = await transcript_parents(store, tenant_id)
                n, _ = await delete_with_children(
                    store, tenant_id, data_class, info.object_id, children
                )
                deleted += n
            else:
                next_s = min(next_s, expires - now)
    return deleted, next_s


async def purge_content(store: ContentStore, tenant_id: str) -> int:
    """Delete every content object of a tenant (account purge); return how many."""
    n = 0
    for data_class in sorted(CONTENT_CLASSES):
        for row in await store.backend.list_objects(tenant_id, data_class):
            await store.delete(tenant_id, data_class, row.object_id)
            n += 1
    return n

"""The restriction check that recording, transcription and SMS processing call first.

A restricted subject (a user id or an outside number; see :mod:`actors.privacy.subjects`)
gets no new recording, no transcription and no SMS processing until the restriction is
lifted (``Privacy.SetRestriction``). The flag lives in the tenant's PrivacyActor, so every
process sees the same answer::

    if await restricted_or_closed(ctx.system, tenant_id, user_id, outside_number):
        ...skip recording...
"""

from __future__ import annotations

from actors.messages.v1 import privacy_pb2 as msg_privacy
from fabric.actor import ActorAddress, ActorSystem
from fabric.errors import FabricError

KIND = "privacy"


def privacy_address(tenant_id: str) -> ActorAddress:
    """The address of a tenant's PrivacyActor."""
    return ActorAddress(KIND, tenant_id)


async def is_restricted(system: ActorSystem, tenant_id: str, *subjects: str) -> bool:
    """True when any of ``subjects`` is restricted in ``tenant_id`` (False for an unknown
    one). Raises ``Unavailable`` / ``DeadlineExceeded`` when the actor cannot answer."""
    wanted = [s for s in subjects if s]
    if not wanted:
        return False
    verdict = await system.ref(privacy_address(tenant_id)).ask(
        msg_privacy.CheckRestriction(subjects=wanted), reply=msg_privacy.RestrictionVerdict
    )
    return verdict.restricted


async def restricted_or_closed(system: ActorSystem, tenant_id: str, *subjects: str) -> bool:
    """As :func:`is_restricted`, but failing closed: True when the check itself fails."""
    try:
        return await is_restricted(system, tenant_id, *subjects)
    except FabricError:
        return True

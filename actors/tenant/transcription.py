"""Whether an extension's voicemail may be transcribed (issue 14, HIPAA gate).

The setting is ``Extension.voicemail_transcription``: unset means the plan's default (on
for Standard, off for Pro, whose tenants may carry PHI); ON on a Pro tenant needs a BAA on
file. PutExtension refuses turning it ON without one (``baa-required``); the answer here
checks again when a message is transcribed, so a tenant moved to Pro after turning it on,
or whose BAA record cannot be read, gets no transcript (fail closed).
"""

from __future__ import annotations

from actors.compliance.hipaa import BAA_REQUIRED, PhiFeature, gate_feature_in_actor
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.base import TenantParts
from fabric.actor import handler
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FabricError

TRANSCRIPTION_OFF = "transcription-off"
UNKNOWN_EXTENSION = "unknown-extension"


def transcription_wanted(plan: int, ext: api_tenant.Extension) -> bool:
    """The extension's setting with the plan's default applied (the BAA aside)."""
    setting = ext.voicemail_transcription
    if setting == api_tenant.VOICEMAIL_TRANSCRIPTION_UNSPECIFIED:
        return plan != api_carrier.PLAN_PRO
    return setting == api_tenant.VOICEMAIL_TRANSCRIPTION_ON


def turns_transcription_on(
    plan: int, before: api_tenant.Extension | None, after: api_tenant.Extension
) -> bool:
    """True when a PutExtension turns transcription on (it was not on before)."""
    return transcription_wanted(plan, after) and (
        before is None or not transcription_wanted(plan, before))


class TenantTranscription(TenantParts):
    """TranscriptionPolicyQuery (asked by the MailboxActor)."""

    @handler
    async def on_transcription_policy(
        self, msg: msg_tenant.TranscriptionPolicyQuery
    ) -> msg_tenant.TranscriptionPolicy:
        """May ``msg.extension``'s voicemail be transcribed now, and whose is it?"""
        state = self._live()
        ext = state.extensions.get(msg.extension)
        if ext is None:
            return msg_tenant.TranscriptionPolicy(allowed=False, reason=UNKNOWN_EXTENSION)
        out = msg_tenant.TranscriptionPolicy(owner_user_id=ext.user_id)
        if not transcription_wanted(state.plan, ext):
            out.reason = TRANSCRIPTION_OFF
            return out
        try:
            await gate_feature_in_actor(self.ctx, state.tenant_id, state.plan,
                                        PhiFeature.VOICEMAIL_TRANSCRIPTION)
        except FabricError:
            out.reason = BAA_REQUIRED
            return out
        out.allowed = True
        return out

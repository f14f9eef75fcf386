"""An extension's call recording policy, read the same way everywhere.

``Extension.recording_policy`` replaced the old ``Extension.recording`` bool (stored, then
dropped: nothing was ever recorded). The bool is still honoured so stored extensions keep
their meaning: set with no policy it reads as ``RECORDING_ALWAYS``. Unset = ``RECORDING_OFF``
(recording is opt-in).
"""

from __future__ import annotations

from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import InvalidArgument

OFF = api_tenant.RECORDING_OFF
ALWAYS = api_tenant.RECORDING_ALWAYS
ON_DEMAND = api_tenant.RECORDING_ON_DEMAND

__all__ = ["ALWAYS", "OFF", "ON_DEMAND", "normalize", "policy_of"]


def policy_of(ext: api_tenant.Extension) -> api_tenant.RecordingPolicy.ValueType:
    """The extension's effective policy (OFF, ALWAYS or ON_DEMAND)."""
    if ext.recording_policy in (OFF, ALWAYS, ON_DEMAND):
        return ext.recording_policy
    return ALWAYS if ext.recording else OFF


def normalize(ext: api_tenant.Extension) -> None:
    """Check the policy of an extension being stored and write it out in full (the
    deprecated bool mirrors ``RECORDING_ALWAYS``). INVALID_ARGUMENT invalid-recording-policy
    for an unknown value."""
    known = (api_tenant.RECORDING_POLICY_UNSPECIFIED, OFF, ALWAYS, ON_DEMAND)
    if ext.recording_policy not in known:
        raise InvalidArgument(
            "extension.recording_policy must be RECORDING_OFF, RECORDING_ALWAYS or "
            "RECORDING_ON_DEMAND",
            error_id="invalid-recording-policy",
            details={"field": "extension.recording_policy"},
        )
    ext.recording_policy = policy_of(ext)
    ext.recording = ext.recording_policy == ALWAYS


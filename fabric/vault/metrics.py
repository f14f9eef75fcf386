"""Prometheus metrics of the vault.

Labels are bounded and carry nothing personal or secret: the operation, the data class (a
fixed set of names such as ``voicemail`` or ``cdr``), the outcome, and key levels and
versions (small integers). Never a tenant id, object id or key material.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

VAULT_OPS = Counter(
    "fabric_vault_operations",
    "Seal and unseal operations by data class and outcome (ok, or the failure's error id)",
    ["op", "data_class", "outcome"],
)
VAULT_KEY_UNWRAPS = Counter(
    "fabric_vault_key_unwraps",
    "Keys unwrapped, by level (root unwraps tenant keys, tenant unwraps data keys) and by the "
    "version of the wrapping key: versions still counted here are still in use",
    ["level", "version"],
)
VAULT_CURRENT_VERSION = Gauge(
    "fabric_vault_current_key_version",
    "The root key version new tenant keys are wrapped with",
    ["level"],
)
VAULT_KEYS_DESTROYED = Counter(
    "fabric_vault_keys_destroyed",
    "Keys destroyed: data keys at the end of the backup window, tenant keys at closure",
    ["level"],
)

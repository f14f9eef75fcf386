"""SMS metrics: messages by direction and outcome, opt-out changes.

Labels are bounded enums, never a number, a tenant or any text. Module-level counters on the
default registry, so every process's ``/metrics`` part carries them
(``fabric.metrics_text.default_registry_text``).
"""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES = Counter(
    "fabric_sms_messages",
    "SMS messages by direction (outbound: sent by a tenant's number; inbound: received) and "
    "outcome (delivered, failed, refused: opted-out, no-carrier-trunk, rate-limited, invalid)",
    ["direction", "outcome"],
)
OPT_OUTS = Counter(
    "fabric_sms_opt_outs",
    "Opt-out keyword changes: stop (STOP, STOPALL, ...), start (START, UNSTOP), help",
    ["action"],
)


def count_message(direction: str, outcome: str) -> None:
    """Count one message (``direction`` inbound|outbound, ``outcome`` a short slug)."""
    MESSAGES.labels(direction=direction, outcome=outcome).inc()


def count_keyword(action: str) -> None:
    """Count one keyword handled (stop, start, help)."""
    OPT_OUTS.labels(action=action).inc()

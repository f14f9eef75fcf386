"""Voicemail metrics, on the process's default registry (every host exports it).

Labels are bounded enums (how a recording ended, an outcome), never a mailbox, a number, a
tenant or any text.
"""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES_RECORDED = Counter(
    "fabric_voicemail_messages_recorded",
    "Voicemail messages kept, by how the recording ended (hangup, dtmf, max-length, silence)",
    ["ended_by"],
)
MESSAGES_DELETED = Counter("fabric_voicemail_messages_deleted", "Voicemail messages deleted")
CALLS_NOT_RECORDED = Counter(
    "fabric_voicemail_calls_not_recorded",
    "Calls that reached voicemail and left no message, by why (hangup-in-greeting, "
    "mailbox-full, no-media, restricted, failed)",
    ["reason"],
)

ENDED_BY = frozenset({"hangup", "dtmf", "max-length", "silence"})


def ended_by_label(value: str) -> str:
    """A bounded label value for how a recording ended ("other" for anything unknown)."""
    return value if value in ENDED_BY else "other"

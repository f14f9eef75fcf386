"""Call recording metrics, on the process's default registry (every host exports it).

``fabric_recordings_active`` goes up where a recording starts and down where it stops; a
call actor that moved hosts in between leaves +1 on one and -1 on the other, which the
fabric-wide merge (``actors.metrics_export``) sums to the right total. Labels are bounded
slugs (consent source, why it stopped), never a number, a name or a tenant.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ACTIVE = Gauge("fabric_recordings_active", "Call recordings under way (paused included)")
STARTED = Counter(
    "fabric_recordings_started",
    "Call recordings started, by consent source (extension-policy, call-request)",
    ["consent"],
)
STOPPED = Counter(
    "fabric_recordings_stopped",
    "Call recordings stopped, by why (request, call-ended, transfer, objection, failed)",
    ["reason"],
)
BYTES = Counter("fabric_recording_bytes", "Audio bytes of sealed call recordings (PCM)")
REFUSED = Counter(
    "fabric_recordings_refused",
    "StartRecording requests and policy starts refused, by error id",
    ["reason"],
)

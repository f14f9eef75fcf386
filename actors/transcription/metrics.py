"""Metrics of the transcription pool (one registry per pool, like the media relays').

Series (no numbers, names, tenants or text in labels; ``reason`` is an error id, ``engine``
the engine's name):

- ``fabric_transcription_queue_depth``: jobs PENDING (queued, running or waiting to retry);
- ``fabric_transcription_jobs_total{status}``: finished jobs by done / failed / skipped;
- ``fabric_transcription_failures_total{reason}``: failed tries (each retry counts) and
  failed jobs;
- ``fabric_transcription_refused_total``: submits refused because the queue was full;
- ``fabric_transcription_audio_seconds_total{engine}`` and
  ``fabric_transcription_busy_seconds_total{engine}``: their ratio is the transcription
  seconds per audio second (the real-time factor);
- ``fabric_transcription_realtime_factor{engine}``: the same per job, as a histogram.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fabric.metrics_text import exposition

RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)


class TranscriptionMetrics:
    """The pool's series in a registry of their own (:meth:`text` exposes them)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.depth = Gauge("fabric_transcription_queue_depth",
                           "Transcription jobs queued, running or waiting to retry", registry=r)
        self.jobs = Counter("fabric_transcription_jobs", "Finished transcription jobs",
                            ["status"], registry=r)
        self.failures = Counter("fabric_transcription_failures",
                                "Failed transcription tries and jobs, by error id",
                                ["reason"], registry=r)
        self.refused = Counter("fabric_transcription_refused",
                               "Transcription submits refused: the queue was full", registry=r)
        self.audio_seconds = Counter("fabric_transcription_audio_seconds",
                                     "Seconds of audio transcribed", ["engine"], registry=r)
        self.busy_seconds = Counter("fabric_transcription_busy_seconds",
                                    "Seconds spent transcribing", ["engine"], registry=r)
        self.rtf = Histogram("fabric_transcription_realtime_factor",
                             "Transcription seconds per audio second, per job", ["engine"],
                             buckets=RTF_BUCKETS, registry=r)

    def observe_done(self, engine: str, audio_seconds: float, busy_seconds: float) -> None:
        """Count a finished transcription's audio and engine time."""
        name = engine or "unknown"
        self.audio_seconds.labels(engine=name).inc(audio_seconds)
        self.busy_seconds.labels(engine=name).inc(busy_seconds)
        if audio_seconds > 0:
            self.rtf.labels(engine=name).observe(busy_seconds / audio_seconds)

    def text(self) -> str:
        """The Prometheus text exposition of these series (no ``_created`` families)."""
        return exposition(self.registry)

"""Voicemail transcription on our own machines: a pool of workers off the call path.

A mailbox submits a :class:`~actors.messages.v1.transcription_pb2.TranscriptionJob` through
``ctx.service(TranscriptionService).submit(job)``; a worker reads the sealed recording,
transcribes it locally (``fabric.transcribe``), seals the text under class ``transcript``
and the job's ``reply_to`` actor is told a ``TranscriptionResult``. Modules: ``queue``
(bounded queue, retries, statuses), ``work`` (one try), ``service`` (the interface and the
in-process implementation), ``pool`` (the Ray actors and the result delivery), ``metrics``.
"""

from actors.transcription.service import LocalTranscription, TranscriptionService

__all__ = ["LocalTranscription", "TranscriptionService"]

"""The mailbox's view of transcription: a small interface, absent when none is deployed.

A new message is handed to :class:`TranscriptionQueue` (a host service the wiring registers
when the transcription workers run); they seal the transcript (class ``transcript``) and tell
the mailbox ``TranscriptUpdate``. With no queue registered, a message's status is SKIPPED
with :data:`NOT_DEPLOYED` as the reason, said in the API.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

NOT_DEPLOYED = "transcription is not deployed on this fabric"


@runtime_checkable
class TranscriptionQueue(Protocol):
    """Where a mailbox submits a message's audio for speech-to-text."""

    async def submit(
        self, tenant_id: str, mailbox_id: str, message_id: str, audio_object_id: str
    ) -> None:
        """Queue one message (the audio is the sealed voicemail object); raises a
        FabricError when the queue is full or down (the message's status becomes FAILED)."""
        ...

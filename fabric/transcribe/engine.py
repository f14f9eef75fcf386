"""The speech engine interface and its errors.

An engine turns one recording (a WAV file's bytes: any rate, G.711 or PCM) into text. It is
loaded once per worker process and called from a worker thread (engines are CPU-bound and
blocking). Errors say what the worker should do with the job:

- :class:`ModelUnavailable`: no model is installed here; the job is *skipped* with the reason
  (retrying cannot help until an operator installs one).
- :class:`ModelTampered`: the model's SHA-256 is not the pinned one; the engine refuses to
  load it and the job *fails* (a supply-chain alarm, not a transient error).
- :class:`AudioUnreadable`: the recording cannot be decoded; the job *fails*.
- anything else is treated as transient by the workers (retried with backoff).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fabric.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard: the text, the audio's length and the language."""

    text: str
    audio_seconds: float
    language: str


class EngineError(FailedPrecondition):
    """Base of the engine errors that retrying cannot fix."""

    default_error_id = "transcribe-engine-error"


class ModelUnavailable(EngineError):
    """No model is installed where the settings point (the job is skipped)."""

    default_error_id = "transcribe-model-missing"


class ModelTampered(EngineError):
    """The model's SHA-256 differs from the pinned value: it is refused."""

    default_error_id = "transcribe-model-tampered"


class AudioUnreadable(InvalidArgument):
    """The recording is not a WAV the engine can decode."""

    default_error_id = "transcribe-audio-unreadable"


@runtime_checkable
class SpeechEngine(Protocol):
    """Speech to text for one recording at a time (blocking; run it in a thread)."""

    name: str
    """A short engine name for logs and metric labels (e.g. ``faster-whisper``)."""

    def transcribe(self, wav: bytes, language: str) -> Transcript:
        """Transcribe the WAV file in ``wav``; raise an :class:`EngineError` subclass or
        :class:`AudioUnreadable` for errors that retrying cannot fix."""
        ...

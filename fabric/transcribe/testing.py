"""Engines for tests: no model, known answers (what unit and Ray tests load by name).

:class:`ScriptedEngine` answers a fixed text and measures the WAV it was given; it can be
held mid-job (while a file exists) so a test can kill the process running it. Its factory
:func:`scripted_engine` is a "module:attr" engine spec the transcription workers accept.
"""

from __future__ import annotations

import io
import os
import time
import wave
from pathlib import Path

from fabric.config import TranscriptionSettings
from fabric.transcribe.engine import AudioUnreadable, Transcript

SCRIPTED_TEXT_ENV = "FABRIC_TEST_SCRIPTED_TEXT"
HOLD_FILE_ENV = "FABRIC_TEST_ENGINE_HOLD_FILE"


class ScriptedEngine:
    """Answers ``text`` for any readable WAV; waits while ``hold_file`` exists (≤ 120 s)."""

    name = "scripted"

    def __init__(self, text: str = "hello from the scripted engine",
                 hold_file: Path | None = None) -> None:
        self.text = text
        self.hold_file = hold_file
        self.calls = 0

    def transcribe(self, wav: bytes, language: str) -> Transcript:
        """Check the WAV, wait while held, answer the scripted text."""
        self.calls += 1
        try:
            with wave.open(io.BytesIO(wav), "rb") as w:
                seconds = w.getnframes() / float(w.getframerate())
        except (wave.Error, EOFError) as exc:
            raise AudioUnreadable("the recording is not a readable WAV file") from exc
        deadline = time.monotonic() + 120.0
        while self.hold_file is not None and self.hold_file.exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return Transcript(text=self.text, audio_seconds=seconds, language=language)


def scripted_engine(settings: TranscriptionSettings) -> ScriptedEngine:
    """Engine spec for workers: text and hold file from ``FABRIC_TEST_*`` variables."""
    hold = os.environ.get(HOLD_FILE_ENV)
    return ScriptedEngine(os.environ.get(SCRIPTED_TEXT_ENV, "hello from the scripted engine"),
                          Path(hold) if hold else None)

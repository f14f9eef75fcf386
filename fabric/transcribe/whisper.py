"""The engine we ship: faster-whisper (CTranslate2) with Whisper *base*, int8, on the CPU.

Measured on a 2-core machine (``benchmarks/transcribe.py``): about 0.17x real time with
2 threads and beam 1. The model directory is ``transcription.model_dir``, assembled at
install time (:mod:`fabric.transcribe.model`); :meth:`FasterWhisperEngine.load` checks its
SHA-256 before CTranslate2 reads it and never reaches a model hub (a local directory is
loaded as it is, and ``HF_HUB_OFFLINE`` is set for good measure).

Audio is decoded in memory (PyAV through faster-whisper's ``decode_audio`` on a
``BytesIO``, resampled to 16 kHz mono): no temporary file ever holds the recording.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from fabric.config import TranscriptionSettings
from fabric.transcribe.engine import AudioUnreadable, ModelUnavailable, Transcript
from fabric.transcribe.model import MODEL_SHA256, verify

SAMPLE_RATE = 16000


class FasterWhisperEngine:
    """Whisper base through faster-whisper; build it with :meth:`load`."""

    name = "faster-whisper"

    def __init__(self, model: Any, *, beam_size: int = 1) -> None:
        self._model = model
        self._beam_size = beam_size

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        sha256: str = MODEL_SHA256,
        cpu_threads: int = 2,
        beam_size: int = 1,
        compute_type: str = "int8",
    ) -> FasterWhisperEngine:
        """Check the model's checksum, then load it (int8 on the CPU, ``cpu_threads``).

        Raises ``ModelUnavailable`` (no model or no faster-whisper installed) or
        ``ModelTampered`` (checksum mismatch).
        """
        verify(model_dir, sha256)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelUnavailable(
                "faster-whisper is not installed; install the 'transcribe' extra"
            ) from exc
        model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        return cls(model, beam_size=beam_size)

    def transcribe(self, wav: bytes, language: str) -> Transcript:
        """Decode ``wav`` in memory and transcribe it (blocking; seconds of CPU)."""
        from faster_whisper import decode_audio

        try:
            samples = decode_audio(io.BytesIO(wav), sampling_rate=SAMPLE_RATE)
        except Exception as exc:  # noqa: BLE001 - PyAV raises many types for bad input
            raise AudioUnreadable(
                "the recording is not a readable audio file", details={"cause": type(exc).__name__}
            ) from exc
        segments, info = self._model.transcribe(
            samples, language=language or None, beam_size=self._beam_size,
            condition_on_previous_text=False,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        return Transcript(text=text, audio_seconds=len(samples) / SAMPLE_RATE,
                          language=info.language)


def model_dir_of(settings: TranscriptionSettings) -> Path:
    """``transcription.model_dir``; a relative one is taken from the current folder, else
    from the project's folder (where ``make install`` puts it), whatever folder a Ray worker
    process runs in."""
    path = settings.model_dir
    if path.is_absolute() or path.exists():
        return path
    project = Path(__file__).resolve().parents[2] / path
    return project if project.exists() else path


def engine_from_settings(settings: TranscriptionSettings) -> FasterWhisperEngine:
    """The engine the ``transcription.*`` settings describe (the workers' default spec)."""
    return FasterWhisperEngine.load(
        model_dir_of(settings), sha256=settings.model_sha256,
        cpu_threads=settings.cpu_threads, beam_size=settings.beam_size,
    )

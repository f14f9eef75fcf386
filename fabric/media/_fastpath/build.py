"""Build the compiled data plane with cffi's API mode (``make install`` runs this; the relay
also builds it on first use into an ignored cache directory when it is missing).

``python -m fabric.media._fastpath.build [DIR]`` compiles ``fastpath.c`` into ``DIR``
(default: :func:`cache_dir`). No libsrtp headers or library are needed: the C code calls
libsrtp through function pointers taken from pylibsrtp's own binding at run time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODULE = "_fabric_fastpath"
_HERE = Path(__file__).resolve().parent


def source_tag() -> str:
    """A short hash of the C sources, so a changed source is rebuilt, never reused stale."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("fastpath.h", "fastpath.c", "build.py"):
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    """Where the built module lives: ``$FABRIC_FASTPATH_DIR`` or
    ``<repo>/.cache/fastpath/<tag>`` (ignored by git)."""
    base = os.environ.get("FABRIC_FASTPATH_DIR")
    root = Path(base) if base else _HERE.parents[2] / ".cache" / "fastpath"
    return root / source_tag()


def build(target: Path | None = None) -> Path:
    """Compile the module into ``target``; return the directory."""
    from cffi import FFI

    out = target or cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    ffi = FFI()
    ffi.cdef((_HERE / "fastpath.h").read_text())
    header = (_HERE / "fastpath.h").read_text()
    ffi.set_source(
        MODULE,
        # the struct of the cdef first, then the C loop
        "#include <stdint.h>\n"
        + header.split("void *fp_new")[0]
        + (_HERE / "fastpath.c").read_text(),
        extra_compile_args=["-O2", "-pthread"],
        extra_link_args=["-pthread"],
    )
    ffi.compile(tmpdir=str(out), verbose=False)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))

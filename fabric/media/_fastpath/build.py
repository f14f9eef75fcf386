"""Build the compiled data plane with cffi's API mode (``make install`` runs this; the relay
also builds it on first use into an ignored cache directory when it is missing).

``python -m fabric.media._fastpath.build [DIR]`` compiles ``fastpath.c`` into ``DIR``
(default: :func:`cache_dir`). No libsrtp or OpenSSL headers or libraries are needed: the C
code calls libsrtp through function pointers taken from pylibsrtp's own binding, and loads
OpenSSL's libcrypto with ``dlopen`` at run time (``fs_init``; see fabric/media/srtp_aescm.py).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

MODULE = "_fabric_fastpath"
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class CffiModule:
    """A C file compiled with cffi's API mode into a cache folder named by its sources' hash
    (the relay's data plane here; the media benchmark's load generator too).

    The header is the cdef; the compiled source is the header's declarations before
    ``api_from`` (its structs), then the C file."""

    name: str
    folder: Path
    header: str
    source: str
    api_from: str
    tagged: tuple[str, ...]  # files whose bytes name the build (the header, the C, the builder)
    compile_args: tuple[str, ...] = ("-O2",)
    link_args: tuple[str, ...] = ()

    def tag(self) -> str:
        """A short hash of the sources, so a changed source is rebuilt, never reused stale."""
        digest = hashlib.sha256()
        for name in self.tagged:
            digest.update((self.folder / name).read_bytes())
        return digest.hexdigest()[:12]

    def build(self, out: Path) -> Path:
        """Compile the module into ``out``; return it."""
        from cffi import FFI

        out.mkdir(parents=True, exist_ok=True)
        header = (self.folder / self.header).read_text()
        ffi = FFI()
        ffi.cdef(header)
        ffi.set_source(
            self.name,
            # the struct of the cdef first, then the C code
            "#include <stdint.h>\n" + header.split(self.api_from)[0]
            + (self.folder / self.source).read_text(),
            extra_compile_args=list(self.compile_args),
            extra_link_args=list(self.link_args),
        )
        ffi.compile(tmpdir=str(out), verbose=False)
        return out

    def load(self, target: Path) -> ModuleType:
        """Import the module built in ``target``, building it first when it is missing (into
        a staging folder renamed into place: processes starting together do not clash)."""
        if not any(target.glob(f"{self.name}*.so")):
            staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
            self.build(staging)
            try:
                staging.rename(target)
            except OSError:  # another process built it first
                pass
        sys.path.insert(0, str(target))
        try:
            return importlib.import_module(self.name)
        finally:
            sys.path.remove(str(target))


FASTPATH = CffiModule(
    MODULE, _HERE, "fastpath.h", "fastpath.c", "void *fp_new",
    tagged=("fastpath.h", "fastpath.c", "srtp_aescm.c", "build.py"),
    compile_args=("-O2", "-pthread", f"-I{_HERE}"), link_args=("-pthread", "-ldl"),
)
"""The relay's compiled data plane (``fastpath.c``, which includes ``srtp_aescm.c``)."""


def source_tag() -> str:
    """A short hash of the C sources, so a changed source is rebuilt, never reused stale."""
    return FASTPATH.tag()


def cache_dir() -> Path:
    """Where the built module lives: ``$FABRIC_FASTPATH_DIR`` or
    ``<repo>/.cache/fastpath/<tag>`` (ignored by git)."""
    base = os.environ.get("FABRIC_FASTPATH_DIR")
    root = Path(base) if base else _HERE.parents[2] / ".cache" / "fastpath"
    return root / source_tag()


def build(target: Path | None = None) -> Path:
    """Compile the module into ``target``; return the directory."""
    return FASTPATH.build(target or cache_dir())


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))

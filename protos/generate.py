"""Generate Python code from every .proto under protos/ into the repository root.

Proto packages mirror Python packages (``protos/fabric/api/v1/calls.proto`` declares
``package fabric.api.v1`` and becomes ``fabric/api/v1/calls_pb2.py``), so generated code
needs no import rewriting. Any protoc error fails loudly with a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
# the public API's descriptors with their comments (source info), for server reflection:
# only these files (and their imports) are served, never the internal messages
PUBLIC_API = Path("fabric/api/v1")
DESCRIPTOR_SET = ROOT / PUBLIC_API / "api_descriptors.binpb"


def _outputs(source: str) -> list[Path]:
    """The files protoc makes from one .proto (relative to protos/)."""
    stem = ROOT / source.removesuffix(".proto")
    return [Path(f"{stem}{suffix}") for suffix in
            ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")]


def is_current(sources: list[str]) -> bool:
    """Every output exists and is newer than every .proto and than this script."""
    newest_input = max([(PROTOS / s).stat().st_mtime for s in sources]
                       + [Path(__file__).stat().st_mtime])
    outputs = [out for s in sources for out in _outputs(s)] + [DESCRIPTOR_SET]
    return all(out.exists() and out.stat().st_mtime > newest_input for out in outputs)


def main(argv: list[str] | None = None) -> int:
    """Run protoc over every .proto file (unless the outputs are current; ``--force``
    regenerates anyway); return its exit status."""
    force = "--force" in (sys.argv[1:] if argv is None else argv)
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    if not sources:
        print("protos/generate.py: no .proto files found", file=sys.stderr)
        return 1
    if not force and is_current(sources):
        return 0  # quiet: `make up` runs this on every start
    include = Path(grpc_tools.__file__).parent / "_proto"
    # protoc finds its plugins (protoc-gen-mypy, ...) on PATH: put this venv's bin first,
    # so `make proto` works without an activated venv
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        f"--mypy_out=quiet:{ROOT}",  # no "Writing mypy to ..." line per file
        f"--mypy_grpc_out=quiet:{ROOT}",
        *sources,
    ]
    status = int(protoc.main(args))
    if status != 0:
        print(f"protos/generate.py: protoc failed with status {status}", file=sys.stderr)
        return status
    public = [src for src in sources if Path(src).parent == PUBLIC_API]
    status = int(protoc.main([
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--descriptor_set_out={DESCRIPTOR_SET}",
        "--include_imports",
        "--include_source_info",
        *public,
    ]))
    if status != 0:
        print(f"protos/generate.py: descriptor set failed with status {status}", file=sys.stderr)
        return status
    # make every generated folder an importable package
    for src in sources:
        folder = (ROOT / src).parent
        while folder != ROOT:
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated protobuf package."""\n')
            folder = folder.parent
    print(f"generated {len(sources)} proto files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

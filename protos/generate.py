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


def main() -> int:
    """Run protoc over every .proto file; return its exit status."""
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    if not sources:
        print("protos/generate.py: no .proto files found", file=sys.stderr)
        return 1
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
        f"--mypy_out={ROOT}",
        f"--mypy_grpc_out={ROOT}",
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

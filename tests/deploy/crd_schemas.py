"""Turn CustomResourceDefinition YAML into the JSON schemas kubeconform reads.

    python tests/deploy/crd_schemas.py OUT_DIR CRD.yaml [CRD.yaml ...]

writes ``OUT_DIR/<group>/<kind>_<version>.json`` (lower case) for the version each CRD stores, in
the layout ``kubeconform -schema-location 'OUT_DIR/{{.Group}}/{{.ResourceKind}}_
{{.ResourceAPIVersion}}.json'`` expects. What kubeconform's own openapi2jsonschema.py does,
kept small: descriptions dropped (they are most of the bytes), ``additionalProperties:
false`` added to every object that lists its properties (so ``-strict`` catches a typo'd
field), ``x-kubernetes-int-or-string`` turned into ``string or integer``. The CRDs come
from the operators' own repositories; ``tests/deploy/schemas/SOURCES.md`` says which.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k != "description"}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    preserve = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def schemas_of(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"<group>/<kind>_<version>.json": schema}`` for the version the CRD stores."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"].lower()
    out = {}
    for version in spec["versions"]:
        if not version.get("storage", False):
            continue  # older versions: the chart renders only the stored one
        schema = _convert(version["schema"]["openAPIV3Schema"])
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        out[f"{group}/{kind}_{version['name']}.json"] = schema
    return out


def main(argv: list[str]) -> int:
    """Convert every CRD document of the given files."""
    out_dir = Path(argv[0])
    for path in argv[1:]:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in schemas_of(doc).items():
                target = out_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
                print(f"{target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Writes the part of i3D.net's published OpenAPI v3 document that this project speaks (the
FlexMetal paths, SSH keys, operating systems, and every schema they reference) to
sandbox/flexmetal/openapi-v3.json: the stand-in validates every request and answer against it
(sandbox/flexmetal/contract.py), and the contract tests pin the client to it.

Usage: python tools/extract_flexmetal_openapi.py PATH_TO_FULL_DOCUMENT
"""

import json
import sys
from pathlib import Path
from typing import Any

PATHS = ("/v3/flexMetal/", "/v3/sshKey", "/v3/operatingsystem")
OUTPUT = Path(__file__).resolve().parent.parent / "sandbox/flexmetal/openapi-v3.json"


def referenced_schemas(node: Any, schemas: dict[str, Any], found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                referenced_schemas(schemas[name], schemas, found)
        for value in node.values():
            referenced_schemas(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            referenced_schemas(value, schemas, found)


def main(source: str) -> None:
    document = json.loads(Path(source).read_text())
    paths = {p: spec for p, spec in document["paths"].items() if p.startswith(PATHS)}
    schemas = document["components"]["schemas"]
    found: set[str] = set()
    referenced_schemas(paths, schemas, found)
    subset = {
        "openapi": document["openapi"],
        "info": {**document["info"], "description": f"Subset of {Path(source).name}"},
        "paths": paths,
        "components": {
            "schemas": {name: schemas[name] for name in sorted(found)},
            "securitySchemes": document["components"].get("securitySchemes", {}),
        },
    }
    OUTPUT.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"{OUTPUT}: {len(paths)} paths, {len(found)} schemas")


if __name__ == "__main__":
    main(sys.argv[1])

"""Reading the project's YAML files (stack files, the routing registry, the catalogue)."""

from pathlib import Path
from typing import Any

import yaml

# libyaml's parser when PyYAML has it: several times faster, and every stack's program reads
# the repository's stack files to check them across PoPs
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=LOADER)

"""Reading the project's YAML files (stack files, the routing registry, the catalogue).

A key given twice in one mapping is an error: YAML parsers keep the later value silently, so
`servers: {count: 8}` followed by `servers: {count: 2}` would rent two servers."""

from pathlib import Path
from typing import Any

import yaml

# libyaml's parser when PyYAML has it: several times faster, and every stack's program reads
# the repository's stack files to check them across PoPs
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping of the document gives one key twice."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        self.key = key
        self.first_line = first.line + 1
        self.again_line = again.line + 1
        super().__init__(
            None,
            None,
            f"key {key!r} given twice in one mapping (lines {self.first_line} and "
            f"{self.again_line}): the later value would silently win; allowed: each key once",
            again,
        )


class UniqueKeyLoader(LOADER):  # type: ignore[misc, valid-type]
    """The project's loader: safe, and refusing a key given twice in one mapping."""


def _mapping_without_duplicates(loader: Any, node: yaml.MappingNode) -> Any:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:  # `<<: *anchor`: merged keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark)
        except TypeError:  # an unhashable key: the constructor below reports it
            continue
        if first is not key_node.start_mark:
            raise DuplicateKey(key, first, key_node.start_mark)
    return loader.construct_yaml_map(node)


UniqueKeyLoader.add_constructor("tag:yaml.org,2002:map", _mapping_without_duplicates)


def read_yaml(path: Path) -> Any:
    return load_yaml(path.read_text())


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=UniqueKeyLoader)

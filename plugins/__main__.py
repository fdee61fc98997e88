"""The entry of the project's provider plugins (plugins/bin/launch runs it):

    python -m plugins NAME ENGINE_ADDRESS   runs plugins.NAME.provider

A plugin starts once per stack and operation (three per preview, 150 in a fleet preview of 50
PoPs), so its start-up is most of what it costs: the Pulumi SDK's package imports its
Automation API and dynamic providers, which no plugin uses (a fifth of a plugin's start-up);
they are loaded on first use instead."""

import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from collections.abc import Sequence
from types import ModuleType

from stacks.process_start import collect_cycles_less_often

UNUSED_BY_PLUGINS = frozenset({"pulumi.automation", "pulumi.dynamic"})


class DeferredModules(importlib.abc.MetaPathFinder):
    """Finds the named modules as the other finders do, with a loader that runs a module's
    code on the first access to one of its attributes (importlib's LazyLoader)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m plugins NAME ENGINE_ADDRESS")
    name = sys.argv.pop(1)
    collect_cycles_less_often()
    sys.meta_path.insert(0, DeferredModules(UNUSED_BY_PLUGINS))
    runpy.run_module(f"plugins.{name}.provider", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

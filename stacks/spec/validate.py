"""`make validate`: checks every Pulumi.*.yaml of the project offline and lists all errors.

Usage: python -m stacks.spec.validate [STACK_FILE ...]   (default: every stack file)
Named stack files are still checked for overlaps with the stack files beside them.
Exit status: 0 when every spec is valid, 1 otherwise, 2 for a file that is not a stack file.
"""

import argparse
import sys
import time
from pathlib import Path

from stacks.spec.loading import stack_files, validate_stack_files


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="python -m stacks.spec.validate", description=__doc__.split("\n\n")[0]
    )
    described.add_argument(
        "stack_files", nargs="*", type=Path, metavar="STACK_FILE",
        help="Pulumi.<stack>.yaml files (default: every one here)",
    )  # fmt: skip
    return described


def not_stack_files(paths: list[Path]) -> list[str]:
    """Why each of `paths` is not a stack file the check can read, if it is not."""
    return [
        f"{path}: {'no such file' if not path.is_file() else 'not a Pulumi.<stack>.yaml'}"
        for path in paths
        if not path.is_file() or not (path.name.startswith("Pulumi.") and path.suffix == ".yaml")
    ]


def main(argv: list[str]) -> int:
    paths = parser().parse_args(argv).stack_files or stack_files(Path.cwd())
    if not paths:
        print("validate: no Pulumi.*.yaml here", file=sys.stderr)
        return 1
    if problems := not_stack_files(paths):
        print("validate: " + "; ".join(problems) + "; allowed: Pulumi.<stack>.yaml files",
              file=sys.stderr)  # fmt: skip
        return 2
    started = time.perf_counter()
    beside = {other for path in paths for other in stack_files(path.resolve().parent)}
    result = validate_stack_files(paths, beside=sorted(beside))
    elapsed_ms = (time.perf_counter() - started) * 1000
    for source, errors in result.errors.items():
        if not errors:
            print(f"ok    {source}")
            continue
        print(f"FAIL  {source}: {len(errors)} error(s)")
        for error in errors:
            print(f"      {error.render()}")
    failed = sum(1 for errors in result.errors.values() if errors)
    print(f"{len(paths)} PoP spec(s), {failed} invalid, checked in {elapsed_ms:.0f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The verification suites (`tests/verify`) as product code: the gate of every host deploy
and the audit of any inventory. They stand alone: pytest loads no conftest above their
folder, and they import nothing from the rest of `tests/`."""

import sys

SUITES_FOLDER = "tests/verify"


def verification_command(*options: str) -> list[str]:
    """pytest over the suites, run from the project root; `options` go before the folder."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--confcutdir={SUITES_FOLDER}",
        *options,
        SUITES_FOLDER,
    ]

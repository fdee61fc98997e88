"""The Pulumi project's folder: Pulumi.yaml, the stack files, and every folder of this
repository. Defined once, here; every other module imports it."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

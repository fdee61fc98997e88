"""Hypothesis, behind the property-based contract test, keeps no example database and writes
nothing into the work tree (which the test user may not own)."""

import os
import tempfile

from hypothesis import settings

os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "voicepop-hypothesis")
)
settings.register_profile("voicepop", database=None)
settings.load_profile("voicepop")

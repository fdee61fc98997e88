"""The verification suites (pytest-testinfra) over any inventory: they gate every host deploy
and are the host audit. Each check carries its control (ID, title, severity, rationale)."""

FOLDER = "verify"  # the suites' folder in the project: what the deploy runs, what it hashes

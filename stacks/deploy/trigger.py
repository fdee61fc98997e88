"""When a host's deploy must run again: a content hash of what shapes the host (the roles'
code and files, and the host's entry: its address and role data). Pure apart from reading the
role files."""

import hashlib
import json
from pathlib import Path
from typing import Any

ROLE_FOLDER = "roles"
SKIPPED_PARTS = frozenset({"__pycache__"})


def role_files(project_dir: Path) -> list[Path]:
    root = project_dir / ROLE_FOLDER
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS & set(path.relative_to(root).parts)
        and path.suffix != ".pyc"
    )


def roles_digest(project_dir: Path) -> str:
    """One hash of every role file, by its path in the project and its content."""
    digest = hashlib.sha256()
    for path in role_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def deploy_trigger(host: dict[str, Any], roles: str, installation: str = "") -> str:
    """The hash a HostDeploy compares: `host` is the host's entry, `roles` roles_digest(),
    `installation` the server's and its OS installation's identity (a reinstall wipes it)."""
    document = json.dumps(
        {"host": host, "roles": roles, "installation": installation}, sort_keys=True
    )
    return hashlib.sha256(document.encode()).hexdigest()[:32]

"""When a host's deploy must run again: a content hash of what shapes the host and proves it
(the roles' code and files, the verification suites, and the host's entry: its address and
role data). A new or changed check thus re-verifies every deployed host. Pure apart from
reading those files."""

import hashlib
import json
from pathlib import Path
from typing import Any

from verify import FOLDER as SUITES_FOLDER

DEPLOYED_FOLDERS = ("roles", SUITES_FOLDER)
SFU_ROLE_FOLDER = "roles/sfu"
SKIPPED_PARTS = frozenset({"__pycache__"})


def deployed_files(project_dir: Path) -> list[Path]:
    """Every file of the roles and the verification suites, compiled files left out."""
    return sorted(
        path
        for folder in DEPLOYED_FOLDERS
        for path in (project_dir / folder).rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS & set(path.relative_to(project_dir).parts)
        and path.suffix != ".pyc"
    )


def deployed_code_digest(project_dir: Path, folder: str = "") -> str:
    """One hash of every deployed file (or those under `folder`), by its path in the project
    and its content."""
    return code_digest(file_digests(project_dir), folder)


def file_digests(project_dir: Path) -> list[tuple[str, bytes]]:
    """Each deployed file's path in the project and the hash of its content: read once, for
    every digest a program run takes of them."""
    return [
        (str(path.relative_to(project_dir)), hashlib.sha256(path.read_bytes()).digest())
        for path in deployed_files(project_dir)
    ]


def code_digest(files: list[tuple[str, bytes]], folder: str = "") -> str:
    digest = hashlib.sha256()
    for relative, content in files:
        if folder and not Path(relative).is_relative_to(folder):
            continue
        digest.update(relative.encode() + b"\0")
        digest.update(content)
    return digest.hexdigest()


def deploy_trigger(host: dict[str, Any], code: str, installation: str = "") -> str:
    """The hash a HostDeploy compares: `host` is the host's entry, `code`
    deployed_code_digest(), `installation` the server's and its OS installation's identity (a
    reinstall wipes it)."""
    document = json.dumps(
        {"host": host, "code": code, "installation": installation}, sort_keys=True
    )
    return hashlib.sha256(document.encode()).hexdigest()[:32]


def sfu_digest(host: dict[str, Any], sfu_code: str, token_secret: str = "") -> str:
    """What the SFU's configuration is made of: the sfu role's files (`sfu_code`:
    deployed_code_digest(project_dir, SFU_ROLE_FOLDER)), the host's `sfu` data, name and
    address, and the token secret (hashed first: the digest is kept on the host). When it
    changes, the deploy restarts the SFU, so a server in service is drained first; a change
    elsewhere (a sysctl, the firewall) leaves the SFU and its calls alone."""
    document = json.dumps(
        {
            "sfu": host.get("sfu"),
            "name": [host.get("name"), host.get("pop")],
            "address": host.get("address"),
            "code": sfu_code,
            "token_secret": hashlib.sha256(token_secret.encode()).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(document.encode()).hexdigest()[:32]

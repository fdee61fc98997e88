"""The sandbox's SSH key pair: generated on this machine, never committed."""

import subprocess

from sandbox import settings


def ensure_ssh_key() -> None:
    if settings.SSH_KEY.exists():
        return
    settings.SSH_KEY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "voicepop-sandbox",
            "-f",
            str(settings.SSH_KEY),
        ],
        check=True,
    )


if __name__ == "__main__":
    ensure_ssh_key()

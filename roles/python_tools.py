"""The roles' Python tools (certbot, anycast-healthchecker): what each is and the commands that
install it from its wheels, run by its role on a host (roles/wheels.py) and by an image build
that bakes it in (sandbox/hosts/vm_image.py). Pure."""

from dataclasses import dataclass
from pathlib import Path


def pinned_version(package: str, requirements: Path) -> str:
    for line in requirements.read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise KeyError(package)


@dataclass(frozen=True)
class PythonTool:
    """A role's Python tool: `package` (and `also`) at the versions `requirements` pins, in a
    venv of its own at `venv`."""

    requirements: Path
    venv: str
    package: str
    also: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return pinned_version(self.package, self.requirements)

    def install_commands(self, wheels: str) -> list[str]:
        """The shell commands that install it from the folder of its wheels `wheels`: run by
        the role on a host, and by an image build that bakes the tool in."""
        wanted = " ".join([f"{self.package}=={self.version}", *self.also])
        return [
            f"python3 -m venv {self.venv}",
            f"{self.venv}/bin/pip install --quiet --no-index --find-links {wheels} {wanted}",
        ]

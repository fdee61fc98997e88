"""What kind of host the roles are on, read on the host itself: a container shares its kernel
with the machine it runs on, so its machine-wide kernel keys are never touched. Read, never
declared: no stack setting can label a production server a container, or the reverse. The
roles ask the fact; the verification suites run the same command."""

from typing import Literal

from pyinfra.api.facts import FactBase

# What the host's kernel lets its roles change (roles/kernel_tuning/sysctls.py says which keys).
KernelScope = Literal["full", "network-namespace"]

# Prints the container technology (systemd-nspawn, docker, lxc, ...) or "none"; a host without
# systemd-detect-virt falls back to the file container managers leave for systemd.
DETECT_CONTAINER = (
    "virt=$(systemd-detect-virt --container 2>/dev/null || cat /run/systemd/container 2>/dev/null);"
    ' echo "${virt:-none}"'
)


def kernel_scope_of(detected: str) -> KernelScope:
    """`full` on a dedicated server or a VM; `network-namespace` in a container."""
    found = {word for word in detected.split() if word != "none"}
    return "network-namespace" if found else "full"


class HostKernelScope(FactBase[KernelScope]):
    """The host's kernel scope (roles/kernel_tuning/sysctls.py says what each allows)."""

    def command(self) -> str:
        return DETECT_CONTAINER

    def process(self, output: list[str]) -> KernelScope:
        return kernel_scope_of("\n".join(output))

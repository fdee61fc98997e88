"""A PoP's rolling deploy: which servers deploy together, in which order. Pure.

The canary wave goes first and alone; the rest follow in batches of `batch` servers (or a
percentage of the PoP's servers, rounded up). The stack program turns the waves into Pulumi
dependencies: every host deploy of a wave depends on each of the wave before it, so a wave
starts only once the previous one deployed and passed its gate, and a failure stops the
rollout with the later waves untouched.
"""

from dataclasses import dataclass

from stacks.spec.capacity import batch_size
from stacks.spec.models import PopSpec


@dataclass(frozen=True)
class Wave:
    number: int  # 1-based
    servers: tuple[str, ...]
    canary: bool = False

    def label(self, waves: int) -> str:
        return f"wave {self.number} of {waves}" + (" (canary)" if self.canary else "")


def rollout_waves(servers: list[str], canary: int, batch: str) -> list[Wave]:
    """The waves, in order; every server in exactly one."""
    canaries = servers[: min(canary, len(servers))]
    rest = servers[len(canaries) :]
    size = batch_size(batch, len(servers))
    groups = [rest[start : start + size] for start in range(0, len(rest), size)]
    waves = [Wave(1, tuple(canaries), canary=True)] if canaries else []
    return waves + [Wave(len(waves) + i, tuple(group)) for i, group in enumerate(groups, 1)]


def waves_of(spec: PopSpec) -> list[Wave]:
    """The PoP's waves as its spec's deploy.rollout gives them: the program's order, and the
    preview's labels."""
    rollout = spec.deploy.rollout
    return rollout_waves(spec.server_names, rollout.canary, rollout.batch)


def wave_of(waves: list[Wave], server: str) -> Wave:
    return next(wave for wave in waves if server in wave.servers)


def waves_line(waves: list[Wave]) -> str:
    """One line for a preview or a log: `canary sfu01 → sfu02, sfu03 → sfu04`."""
    return " → ".join(
        ("canary " if wave.canary else "") + ", ".join(wave.servers) for wave in waves
    )

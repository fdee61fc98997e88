"""A PoP's capacity during a rollout or a removal: how many servers a count or a share of the
PoP stands for, the capacity floor (`deploy.min_in_service`) and the largest rollout wave.
Pure; the rollout's waves themselves are in stacks/rollout/waves.py."""

import math
from dataclasses import dataclass

from roles.prober.defaults import ProbeLoad
from stacks.spec.catalogue import load_catalogue
from stacks.spec.models import PopSpec


def servers_of(amount: str, servers: int, *, round_up: bool) -> int:
    """A count ("2") as it is, or a share of `servers` ("25%") rounded up or down."""
    if not amount.endswith("%"):
        return int(amount)
    share = servers * int(amount[:-1]) / 100
    return math.ceil(share) if round_up else math.floor(share)


def batch_size(batch: str, servers: int) -> int:
    """Servers per wave after the canary: at least one."""
    return max(1, servers_of(batch, servers, round_up=True))


def capacity_floor(spec: PopSpec, servers: int | None = None) -> int:
    """Servers that must stay in service in a PoP of `servers` (default: the spec's)."""
    count = len(spec.server_names) if servers is None else servers
    return servers_of(spec.deploy.min_in_service, count, round_up=False)


def largest_wave(servers: int, canary: int, batch: str) -> int:
    """The most servers one wave of the rollout takes out of service at once."""
    canaries = min(canary, servers)
    rest = servers - canaries
    return max(canaries, min(batch_size(batch, servers), rest))


def in_service_during_rollout(spec: PopSpec) -> int:
    """Servers still in service while the rollout's largest wave is drained."""
    servers = len(spec.server_names)
    rollout = spec.deploy.rollout
    return servers - largest_wave(servers, rollout.canary, rollout.batch)


def removal_below_floor(spec: PopSpec, deployed: list[str]) -> str | None:
    """Why removing the servers the spec no longer lists (of `deployed`, the servers the
    stack last deployed) would leave the PoP below its capacity floor outside a sandbox; None
    when it would not."""
    removed = [name for name in deployed if name not in spec.server_names]
    if not removed or spec.environment == "sandbox":
        return None
    before, after = len(deployed), len(spec.server_names)
    floor = capacity_floor(spec, before)
    if after >= floor:
        return None
    return (
        f"removing {', '.join(removed)} leaves {after} of {before} servers in service, below "
        f"deploy.min_in_service ({spec.deploy.min_in_service}: {floor} server(s)); allowed: "
        f"remove at most {before - floor} at once, or accept the loss explicitly "
        "(make fleet-up ALLOW_CAPACITY_LOSS=1)"
    )


@dataclass(frozen=True)
class Sizing:
    """A PoP's calls against its peak: its servers, what each carries, the most a rollout wave
    takes out at once."""

    servers: int
    calls_per_server: int
    peak_calls: int
    largest_wave: int

    def carried_with_out(self, out: int) -> int:
        """The calls the PoP carries with `out` of its servers out of service."""
        return max(0, self.servers - out) * self.calls_per_server

    @property
    def with_one_out(self) -> int:
        return self.carried_with_out(1)

    @property
    def during_rollout(self) -> int:
        return self.carried_with_out(self.largest_wave)

    @property
    def headroom(self) -> int:
        """Calls to spare at the peak with one server out (N+1); below 0: short."""
        return self.with_one_out - self.peak_calls

    @property
    def servers_needed(self) -> int:
        """The fewest servers of this type that carry the peak with one out."""
        return math.ceil(self.peak_calls / self.calls_per_server) + 1


def sizing_of(spec: PopSpec, calls_per_server: int, servers: int | None = None) -> Sizing | None:
    """The PoP's sizing with `servers` (default: the spec's) of `calls_per_server` each; None
    when the spec declares no peak."""
    peak = spec.capacity.peak_calls
    if peak is None:
        return None
    count = len(spec.server_names) if servers is None else servers
    rollout = spec.deploy.rollout
    wave = largest_wave(count, rollout.canary, rollout.batch) if count else 0
    return Sizing(count, calls_per_server, peak, wave)


def probe_load(spec: PopSpec) -> ProbeLoad:
    """The probing mesh's load settings with the calls one server carries: the spec's own
    `probing.load.server_capacity_calls` when it sets one, else the provider catalogue's
    `callsPerServer` of the PoP's instance type (bench/bench_load.py), else the role's default."""
    load = spec.probing.load
    if "server_capacity_calls" in load.model_fields_set:
        return load
    per_server = load_catalogue(spec.provider.name).calls_per_server.get(
        spec.provider.instance_type
    )
    return (
        load
        if per_server is None
        else load.model_copy(update={"server_capacity_calls": per_server})
    )

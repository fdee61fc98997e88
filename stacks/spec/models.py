"""The PoP spec: typed models of `voicepop:pop` in a stack's `Pulumi.<pop>.yaml`.

This module is the one place where the spec's shape is written down. What a role applies is
typed once, in that role's `defaults.py`, and composed here as it is: `sfu`, `base`,
`firewall`, `anycast`, `tuning.kernel`, `tuning.nic`, `probing`, and the BGP sessions and
health gate of `bgp`; each keeps its names from the stack file to the host. Checks of one
field sit on the field; checks that relate fields sit in `checks.py`.
"""

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from roles.anycast.defaults import (
    AnnounceHealth,
    AnycastSettings,
    Asn,
    BgpNeighbor,
)
from roles.base.defaults import BaseSettings
from roles.firewall.defaults import FirewallSettings
from roles.kernel_tuning.defaults import KernelTuning
from roles.nic_tuning.defaults import NicTuning
from roles.prober.defaults import ProbingSettings
from roles.sfu.defaults import SfuSettings
from stacks.spec.reference import MAX_IPV4_PREFIX_LEN, MAX_IPV6_PREFIX_LEN, MAX_TTL_S, MIN_TTL_S

POP_CODE_PATTERN = r"^[a-z]{3}[0-9]{1,2}$"
# A DNS label, so a server name is also its host name and record name.
SERVER_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DNS_NAME_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
# Server counts of a rollout: a number of servers or a share of the PoP's servers.
BATCH_PATTERN = r"^([1-9][0-9]{0,2}|[1-9][0-9]?%|100%)$"
FLOOR_PATTERN = r"^([0-9]{1,3}|[0-9]{1,2}%|100%)$"


def _announceable_prefix(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(
            f"not a valid CIDR prefix ({error}); allowed: a network address with its length "
            "and no host bits set, e.g. 203.0.113.0/24 or 2001:db8:100::/48"
        ) from None
    longest = MAX_IPV4_PREFIX_LEN if network.version == 4 else MAX_IPV6_PREFIX_LEN
    if network.prefixlen > longest:
        raise ValueError(
            f"IPv{network.version} prefix longer than /{longest} is dropped by transit and "
            f"route servers; allowed: /{longest} or shorter"
        )
    return str(network)


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(
            f"not a valid CIDR range ({error}); allowed: e.g. 198.51.100.0/24 or 192.0.2.10/32"
        ) from None


MAX_SERVERS_PER_POP = 50


def _server_count(count: int) -> int:
    if count < 1:
        raise ValueError(f"a PoP needs at least one server; allowed: 1 to {MAX_SERVERS_PER_POP}")
    if count > MAX_SERVERS_PER_POP:
        raise ValueError(
            "more servers than one PoP stack manages; allowed: "
            f"1 to {MAX_SERVERS_PER_POP}, or split the PoP into two stacks"
        )
    return count


def _server_names(names: list[str]) -> list[str]:
    _server_count(len(names))
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"server names used more than once: {', '.join(duplicates)}; allowed: unique names"
        )
    return names


AnnounceablePrefix = Annotated[str, AfterValidator(_announceable_prefix)]
Cidr = Annotated[str, AfterValidator(_cidr)]
ServerName = Annotated[str, Field(pattern=SERVER_NAME_PATTERN, max_length=63)]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSpec(SpecModel):
    name: Literal["flexmetal"] = Field("flexmetal", description="the bare-metal provider")
    location: str = Field(description='a location of the provider\'s catalogue, "EU: Rotterdam"')
    instance_type: str = Field(description="an instance type offered there, e.g. bm7.std.8")
    os: str = Field("debian-12", description="OS image slug of the provider's catalogue")
    api_endpoint: str = Field(
        "https://api.i3d.net/v3",
        pattern=r"^https?://",
        description="API base URL (the sandbox points it at the stand-in)",
    )
    delivery_poll_interval_s: float = Field(
        15.0, gt=0, le=300, description="how often to ask whether a new server is delivered"
    )
    delivery_timeout_s: float = Field(
        2700.0, gt=0, le=86_400, description="how long a delivery may take (45 min)"
    )
    release_poll_interval_s: float = Field(
        1.0, gt=0, le=300, description="how often to ask whether a released server is gone"
    )
    release_timeout_s: float = Field(
        300.0, gt=0, le=86_400, description="how long a release may take (5 min)"
    )
    request_timeout_s: float = Field(
        30.0, gt=0, le=300, description="how long one API request may take"
    )
    server_tags: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_:-]{1,64}$")]] = Field(
        default_factory=list, description="extra provider tags on every server"
    )


class ServersSpec(SpecModel):
    """Either `count` servers named `<name_prefix><NN>`, or explicit `names`."""

    count: Annotated[int, AfterValidator(_server_count)] | None = Field(
        None, description="how many servers (1-50)"
    )
    names: Annotated[list[ServerName], AfterValidator(_server_names)] | None = Field(
        None, description="explicit server names"
    )
    name_prefix: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9-]*$", description='default: "<code>-sfu"'
    )


class PrefixSpec(SpecModel):
    prefix: AnnounceablePrefix
    kind: Literal["anycast", "unicast"] = Field(
        "anycast",
        description="anycast: announced by every server listed; unicast: by exactly one server",
    )
    servers: list[ServerName] | None = Field(None, description="who announces it; default: all")


class NeighborSpec(BgpNeighbor):
    """A BGP session (roles/anycast/defaults.py): PoP-wide, or per server when `servers` lists
    the servers that peer."""

    servers: list[ServerName] | None = Field(None, description="servers that peer; default: all")


class BgpSpec(SpecModel):
    local_asn: Asn
    prefixes: list[PrefixSpec] = Field(default_factory=list)
    neighbors: list[NeighborSpec] = Field(default_factory=list)
    health: AnnounceHealth = Field(default_factory=AnnounceHealth)
    drain_wait_s: int = Field(
        30,
        ge=0,
        le=3600,
        description="drain: seconds routes carry GRACEFUL_SHUTDOWN (65535:0) before withdrawal",
    )
    import_routes: Literal["none", "default"] = Field(
        "none", description="none: learn nothing; default: only a default route"
    )


class DnsSteeringSpec(SpecModel):
    policy: Literal["latency", "geo"]
    aws_region: str | None = Field(None, description="latency: the AWS region nearest the PoP")
    continent: str | None = Field(None, description="geo: Route 53 continent code, e.g. EU")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="geo: ISO 3166 code")


class DnsHealthCheckSpec(SpecModel):
    """Route 53's health check of each server's SFU health endpoint (sfu.health)."""

    interval_s: Literal[10, 30] = Field(10, description="Route 53 checks every 10 or 30 s")
    failure_threshold: int = Field(3, ge=1, le=10, description="failed checks before unhealthy")


class DnsSpec(SpecModel):
    zone: str = Field(pattern=DNS_NAME_PATTERN, description="hosted zone, e.g. voice.example.net")
    api_endpoint: str | None = Field(
        None, pattern=r"^https?://", description="None: AWS; the sandbox: its Route 53 stand-in"
    )
    create_zone: bool = Field(
        False, description="create the zone (and delete it on destroy); else it must exist"
    )
    health_check: DnsHealthCheckSpec = Field(default_factory=DnsHealthCheckSpec)
    pop_record: str | None = Field(
        None, pattern=SERVER_NAME_PATTERN, description="the PoP's own name; default: its code"
    )
    service_record: str = Field(
        "sfu", pattern=SERVER_NAME_PATTERN, description="the steered name shared by all PoPs"
    )
    steering: DnsSteeringSpec
    ttl_s: int = Field(
        30, ge=MIN_TTL_S, le=MAX_TTL_S, description="record TTL; low so failover is quick"
    )


def _ssh_public_key(value: str) -> str:
    if value.startswith("file:") and len(value) > len("file:"):
        return value
    parts = value.split()
    if len(parts) >= 2 and parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        return value
    raise ValueError(
        "not an OpenSSH public key; allowed: 'ssh-ed25519 AAAA... comment', or "
        "'file:PATH' (relative to the project) for a key generated on this machine"
    )


class AccessSpec(SpecModel):
    ssh_admin_ranges: list[Cidr] = Field(
        min_length=1, description="where SSH is allowed from; the firewall drops the rest"
    )
    ssh_public_keys: list[Annotated[str, AfterValidator(_ssh_public_key)]] = Field(
        min_length=1, description="admin keys installed on every server"
    )


def _as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _key_path(value: str) -> str:
    if not value.strip() or value.startswith("~"):
        raise ValueError(
            "not a key file path; allowed: a path relative to the project such as "
            ".sandbox/ssh/id_ed25519, or an absolute one (no ~)"
        )
    return value


def _servers_amount(pattern: str, problem: str, allowed: str) -> Callable[[str], str]:
    """A validator of a number of servers or a share of the PoP's (rollout sizes, the floor)."""

    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{problem}; allowed: {allowed}")
        return value

    return check


_batch = _servers_amount(
    BATCH_PATTERN,
    "not a batch size",
    "a number of servers (1-999, e.g. 2) or a share of the PoP's servers (1%-100%, e.g. '25%')",
)
_floor = _servers_amount(
    FLOOR_PATTERN,
    "not a number of servers",
    "a number of servers (0-999, e.g. 6) or a share of the PoP's servers (0%-100%, e.g. "
    "'75%', rounded down)",
)


class RolloutSpec(SpecModel):
    """How a change that re-deploys hosts rolls through the PoP: a canary wave first, then
    batches, each wave only after the previous one deployed and passed its gate."""

    canary: int = Field(
        1, ge=0, le=10, description="servers deployed first, alone (0: no canary wave)"
    )
    batch: Annotated[str, BeforeValidator(_as_text), AfterValidator(_batch)] = Field(
        "25%",
        description="servers per later wave: a number (2) or a share of the PoP ('25%', "
        "rounded up); '100%' with canary 0 deploys every server at once",
    )


class DeploySpec(SpecModel):
    """The host deploy that `pulumi up` runs once a server is delivered: the pyinfra site
    deploy, then the verification suites as a gate."""

    enabled: bool = Field(
        True,
        description="run the site deploy and verification in `pulumi up`; off only in a "
        "sandbox, for tests of the provider alone",
    )
    ssh_private_key: Annotated[str, AfterValidator(_key_path)] | None = Field(
        None, description="the deploy's SSH key (relative to the project); default: the agent"
    )
    settle_s: float = Field(
        60,
        ge=0,
        le=600,
        description="how long verification may retry after a deploy "
        "(announcements follow the SFU's health checks by seconds)",
    )
    timeout_s: float = Field(1800, ge=60, le=7200, description="a host's deploy gives up after")
    ssh_dead_after_s: float = Field(
        60,
        ge=5,
        le=600,
        description="a host whose SSH goes unanswered this long fails its deploy, named, "
        "instead of stalling it until timeout_s",
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    min_in_service: Annotated[str, BeforeValidator(_as_text), AfterValidator(_floor)] = Field(
        "75%",
        description="the PoP's capacity floor: servers that stay in service during any "
        "rollout wave or server removal (a number, or a share of the PoP rounded down); "
        "outside a sandbox a rollout or removal below it is an error",
    )
    simulate: bool = Field(
        False,
        description="true: no host is touched; each host deploy only records its trigger and "
        "wave (a sandbox only: a simulated fleet of servers without hosts, "
        "ops/fleet/simulate.py, bench/)",
    )

    @property
    def configures_hosts(self) -> bool:
        """Whether the deploy runs the roles on real hosts (the SFU's secrets are needed)."""
        return self.enabled and not self.simulate


class TuningSpec(SpecModel):
    kernel: KernelTuning = Field(default_factory=KernelTuning)
    nic: NicTuning = Field(default_factory=NicTuning)


class CapacitySpec(SpecModel):
    """What the PoP must carry: it is sized for its peak with one server out (N+1) and with its
    rollout's largest wave out, by the calls one server of its instance type carries (the
    provider catalogue's `callsPerServer`)."""

    peak_calls: int | None = Field(
        None, ge=1, description="the PoP's expected peak of concurrent calls (none: not sized)"
    )


class PopSpec(SpecModel):
    code: str = Field(pattern=POP_CODE_PATTERN, description="e.g. ams1: airport code + number")
    name: str = Field(min_length=1, max_length=64)
    environment: Literal["production", "staging", "sandbox"] = "production"
    provider: ProviderSpec
    servers: ServersSpec
    bgp: BgpSpec
    dns: DnsSpec
    sfu: SfuSettings = Field(default_factory=SfuSettings)
    access: AccessSpec
    base: BaseSettings = Field(default_factory=BaseSettings)
    firewall: FirewallSettings = Field(default_factory=FirewallSettings)
    anycast: AnycastSettings = Field(default_factory=AnycastSettings)
    tuning: TuningSpec = Field(default_factory=TuningSpec)
    probing: ProbingSettings = Field(default_factory=ProbingSettings)
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)
    deploy: DeploySpec = Field(default_factory=DeploySpec)

    @property
    def server_names(self) -> list[str]:
        if self.servers.names is not None:
            return list(self.servers.names)
        prefix = self.servers.name_prefix or f"{self.code}-sfu"
        return [f"{prefix}{index:02d}" for index in range(1, (self.servers.count or 0) + 1)]

    def prefixes_of(self, server: str) -> list[PrefixSpec]:
        """The prefixes `server` announces (a prefix without `servers`: every server)."""
        return [p for p in self.bgp.prefixes if server in (p.servers or self.server_names)]

    def neighbors_of(self, server: str) -> list[NeighborSpec]:
        """The BGP sessions `server` has (a neighbour without `servers`: every server)."""
        return [n for n in self.bgp.neighbors if server in (n.servers or self.server_names)]

    @property
    def pop_record(self) -> str:
        return self.dns.pop_record or self.code

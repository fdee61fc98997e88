"""One host as the roles, the deploy, the verification suites and the audit take it: how to
reach it and each role's section, typed. The Pulumi program makes it once per server from the
PoP spec (stacks/host_data.py) and carries it, as JSON, in the host deploy's inputs, the
stack's outputs and the inventories; each process parses it once (`HostEntry.model_validate`,
or `entry_of` for pyinfra's host) and hands each role its own section. Secrets by reference:
a BGP session's MD5 key is the name of a secret config key, its value reaches the deploy in
the environment (roles/secrets.py), never the entry."""

from typing import Any, Literal

from pydantic import Field

from roles.anycast.config import AnycastHost
from roles.anycast.defaults import AnycastSettings
from roles.base.defaults import DEPLOY_SSH_USER, BaseSettings
from roles.firewall.defaults import FirewallHost
from roles.kernel_tuning.defaults import KernelTuning
from roles.nic_tuning.defaults import NicTuning
from roles.prober.config import ProberHost
from roles.settings import RoleSettings
from roles.sfu.defaults import SfuSettings

ServiceState = Literal["in-service", "drained"]


class HostEntry(RoleSettings):
    name: str
    address: str
    ssh_user: str = DEPLOY_SSH_USER
    ssh_key: str | None = None  # None: the operator's SSH agent
    ssh_dead_after_s: float = 60.0
    pop: str
    base: BaseSettings = Field(default_factory=BaseSettings)
    kernel_tuning: KernelTuning = Field(default_factory=KernelTuning)
    nic_tuning: NicTuning = Field(default_factory=NicTuning)
    firewall: FirewallHost
    sfu: SfuSettings = Field(default_factory=SfuSettings)
    anycast: AnycastSettings = Field(default_factory=AnycastSettings)
    bgp: AnycastHost | None = None  # None: the server announces nothing
    prober: ProberHost | None = None  # None: the server runs no prober (probing.servers)
    # the names callers reach it by, its own first, then its PoP's and the service's: its
    # certificate's (stacks/dns/records.py makes the records)
    dns_names: list[str] = Field(default_factory=list)
    # what the verification expects of the server's service (a deploy that drained it)
    drain_expected: ServiceState = "in-service"

    @property
    def announces(self) -> bool:
        return self.bgp is not None and bool(self.bgp.prefixes)

    def as_json(self) -> dict[str, Any]:
        """The entry as the outputs and the inventories carry it."""
        dumped = self.model_dump(mode="json")
        return {k: v for k, v in dumped.items() if v is not None}


def entry_of(host: Any) -> HostEntry:
    """The entry of pyinfra's `host`, from its inventory's host data (roles/inventory.py:
    the entry's fields beside pyinfra's connection keys), parsed once for its deploy."""
    data = host.data.dict()
    fields = {key: data[key] for key in HostEntry.model_fields if key in data}
    return HostEntry.model_validate(
        {**fields, "name": host.name, "address": data.get("ssh_hostname") or host.name}
    )

"""Every knob of the base role with its default: the role's documented interface.

A PoP overrides any of them in `base` of its spec's host data (stacks/host_data.py)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# a host name or an IPv4/IPv6 address, as chrony's `server` directive takes it
NTP_SERVER_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$"


class BaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ntp_servers: tuple[Annotated[str, Field(pattern=NTP_SERVER_PATTERN)], ...] = Field(
        ("0.debian.pool.ntp.org", "1.debian.pool.ntp.org"),
        min_length=1,
        description="chrony sources (iburst), host names or addresses; a PoP with its own "
        "time servers names them (none: the clock drifts and DTLS certificates fail)",
    )
    ssh_max_auth_tries: int = Field(3, ge=1, le=10)
    ssh_client_alive_interval_s: int = Field(300, ge=0)
    journald_max_use_mb: int = Field(1024, ge=64, description="SystemMaxUse")
    journald_max_retention_days: int = Field(30, ge=1, description="MaxRetentionSec")
    security_updates: bool = Field(True, description="unattended-upgrades from security only")
    automatic_reboot: bool = Field(
        False, description="never reboot an SFU by itself: rollouts drain it first"
    )
    apply_security_updates: bool = Field(
        True,
        description="install pending Debian security updates at every deploy (and restart "
        "the services still running the replaced libraries): no server goes into service "
        "with them pending",
    )
    ssh_allow_tcp_forwarding: bool = Field(
        False, description="sshd AllowTcpForwarding: an SFU is no jump host"
    )
    ssh_allow_agent_forwarding: bool = Field(False, description="sshd AllowAgentForwarding")
    core_dumps: bool = Field(
        False,
        description="core dumps of services (a Janus core holds call keys and media): off "
        "through systemd's DefaultLimitCORE, limits.d, systemd-coredump and fs.suid_dumpable",
    )
    disabled_kernel_modules: tuple[str, ...] = Field(
        ("dccp", "sctp", "rds", "tipc"),
        description="kernel protocols made unloadable (modprobe runs /bin/false); Janus's "
        "data channels use its own user-space SCTP over DTLS, never the kernel's",
    )

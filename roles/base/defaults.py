"""Every knob of the base role with its default: the role's documented interface.

A PoP overrides any of them in `base` of its spec's host data (stacks/host_data.py)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# a host name or an IPv4/IPv6 address, as chrony's `server` directive takes it
NTP_SERVER_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$"
# a syslog collector: host name or IPv4 address, then its TCP port
LOG_COLLECTOR_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?:[0-9]{1,5}$"
USER_NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
DEPLOY_SSH_USER = "root"  # the user the deploys, the suites and the audit log in as
LOGIN_BANNER = (
    "Authorised access only. This system is private: every connection is monitored and logged, "
    "and unauthorised use is prohibited and may be subject to criminal law."
)


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
    ssh_client_alive_count_max: int = Field(
        2,
        ge=1,
        le=10,
        description="sshd ClientAliveCountMax: a dead session goes after this "
        "many unanswered keep-alives",
    )
    ssh_max_sessions: int = Field(
        10,
        ge=4,
        le=64,
        description="sshd MaxSessions: channels open at once on one connection. A deploy opens "
        "them faster than sshd retires closed ones: at 2, sshd refused channels mid-deploy "
        "(ChannelException 'Connect failed': a dozen of the suite's tests failed so)",
    )
    ssh_log_level: Literal["INFO", "VERBOSE"] = Field(
        "VERBOSE", description="sshd LogLevel: VERBOSE logs each login's key fingerprint"
    )
    ssh_allow_users: tuple[Annotated[str, Field(pattern=USER_NAME_PATTERN)], ...] = Field(
        ("root",),
        min_length=1,
        description="sshd AllowUsers: the only accounts that may log in over SSH; it must "
        "hold the deploy's own user (`make validate` refuses a list that would lock it out)",
    )
    login_banner: str = Field(
        LOGIN_BANNER,
        min_length=1,
        max_length=500,
        description="the legal notice in /etc/issue, /etc/issue.net and sshd's Banner",
    )
    default_umask: str = Field(
        "027",
        pattern=r"^0[0-7][0-7]$",
        description="login.defs UMASK and login shells' umask: new files not world-readable",
    )
    shell_idle_timeout_s: int = Field(
        900, ge=0, description="TMOUT of interactive shells, read-only (0: none)"
    )
    log_collector: str | None = Field(
        None,
        pattern=LOG_COLLECTOR_PATTERN,
        description="host:port of the syslog collector rsyslog ships every log to over TCP "
        "(RFC 6587 octet-counted, a disk-assisted queue while it is away); None: logs stay "
        "on the host",
    )
    audit_privileged_commands: bool = Field(
        True,
        description="auditd records every program run as root by a logged-in user (hosts "
        "with a kernel of their own: a container has no audit subsystem)",
    )
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
        ("dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core"),
        description="kernel protocols and removable storage made unloadable (modprobe runs "
        "/bin/false); Janus's data channels use its own user-space SCTP over DTLS, never the "
        "kernel's, and a server in a rack takes no USB stick",
    )

"""Every knob of the base role with its default: the role's documented interface.

A PoP overrides any of them in `base` of its spec's host data (stacks/host_data.py)."""

from pydantic import BaseModel, ConfigDict, Field


class BaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ntp_servers: tuple[str, ...] = Field(
        ("0.debian.pool.ntp.org", "1.debian.pool.ntp.org"),
        description="chrony sources (iburst); a PoP with its own time servers names them",
    )
    ssh_max_auth_tries: int = Field(3, ge=1, le=10)
    ssh_client_alive_interval_s: int = Field(300, ge=0)
    journald_max_use_mb: int = Field(1024, ge=64, description="SystemMaxUse")
    journald_max_retention_days: int = Field(30, ge=1, description="MaxRetentionSec")
    security_updates: bool = Field(True, description="unattended-upgrades from security only")
    automatic_reboot: bool = Field(
        False, description="never reboot an SFU by itself: rollouts drain it first"
    )

"""Every knob of the sfu role with its default: the role's documented interface. The PoP spec
provides the ports (stacks/host_data.py); the rest may be overridden per PoP."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SfuSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    implementation: Literal["janus"] = "janus"
    media_port_first: int = Field(10_000, ge=1024, le=65_535)
    media_port_last: int = Field(20_000, ge=1024, le=65_535)
    http_port: int = Field(8088, description="signalling API and health endpoint")
    admin_port: int = Field(7088, description="admin API, on 127.0.0.1 only")
    log_level: int = Field(4, ge=0, le=7, description="Janus debug_level (4: info)")
    nofile_limit: int = Field(1_048_576, ge=1024, description="LimitNOFILE of the service")
    restart_delay_s: int = Field(1, ge=0, description="RestartSec after a crash")

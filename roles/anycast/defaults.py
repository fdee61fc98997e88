"""Every knob of the anycast role with its default: the role's documented interface.

What a server announces, to whom and how health gates it comes from the PoP spec (`bgp`);
these are the host-side choices, overridable per PoP in the host data (`anycast_settings`).
"""

from pydantic import BaseModel, ConfigDict, Field


class AnycastSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dummy_interface: str = Field(
        "vpanycast0",
        description="where the service addresses are bound on a host whose kernel has dummy "
        "interfaces (a container host binds them on lo)",
    )
    connect_delay_s: int = Field(
        1, ge=1, le=60, description="BIRD's connect delay: a restarted session is back in ~1 s"
    )
    error_wait_min_s: int = Field(
        5,
        ge=1,
        description="after a session error BIRD retries this soon, doubling each time "
        "(its default 60 s would keep a recovered server dark for a minute)",
    )
    error_wait_max_s: int = Field(60, ge=1, description="the longest wait between retries")
    healthchecker_log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$")
    # placeholders the healthchecker keeps in its lists so they are never empty (BIRD has no
    # empty prefix set): never announced, the export filter allows only the spec's prefixes
    dummy_prefix4: str = "10.189.200.255/32"
    dummy_prefix6: str = "2001:db8::1/128"

"""Every knob of the probing mesh with its default: the PoP spec's `probing` section
(`ProbingSettings`: which servers run a prober, what it may cost, `ProbeLoad`, and the media
gate that drains a server on bad synthetic calls, `MediaGate`). Pure models; the gate's logic
is quality/media_gate.py, the prober quality/prober.py, the role running it roles/prober/."""

from pydantic import Field, model_validator

from roles.settings import Port, RoleSettings

PROBER_PORT = 9108


class MediaGate(RoleSettings):
    """When a server's own synthetic calls take it out of service, and bring it back.

    A call is bad when it carries no media, scores below `drain_below_mos` or loses more than
    `drain_above_loss_pct`; `bad_calls` bad calls in a row drain the server (GRACEFUL_SHUTDOWN,
    then withdrawal). It returns after `good_calls` good calls in a row, where good is the
    stricter `return_*` bound: a server hovering at the drain bound stays out instead of
    flapping. The PoP's capacity floor (`deploy.min_in_service`) is never crossed: a server the
    floor keeps in service is held, and an alert fires instead."""

    enabled: bool = Field(
        True, description="off: the gate only reports (a server it would drain shows as held)"
    )
    drain_below_mos: float = Field(
        3.6, ge=1.0, le=4.5, description="E-model MOS 3.6 (R 70): many users dissatisfied"
    )
    drain_above_loss_pct: float = Field(
        3.0, ge=0, le=100, description="3 % lost: Opus with FEC still audible"
    )
    return_from_mos: float = Field(
        3.9, ge=1.0, le=4.5, description="a good call for the return: MOS at least this"
    )
    return_below_loss_pct: float = Field(
        1.0, ge=0, le=100, description="a good call for the return: loss at most this"
    )
    bad_calls: int = Field(3, ge=1, le=100, description="bad calls in a row that drain")
    good_calls: int = Field(5, ge=1, le=100, description="good calls in a row that return")

    @model_validator(mode="after")
    def _return_is_stricter(self) -> "MediaGate":
        if self.return_from_mos < self.drain_below_mos:
            raise ValueError(
                f"return_from_mos {self.return_from_mos} is below drain_below_mos "
                f"{self.drain_below_mos}; allowed: at least the drain bound (hysteresis)"
            )
        if self.return_below_loss_pct > self.drain_above_loss_pct:
            raise ValueError(
                f"return_below_loss_pct {self.return_below_loss_pct} is above "
                f"drain_above_loss_pct {self.drain_above_loss_pct}; allowed: at most the "
                "drain bound (hysteresis)"
            )
        return self


class ProbeLoad(RoleSettings):
    """How much the probing mesh may cost. A prober places one call at a time, so a server
    carries at most one probe call per prober that reaches it; on average far fewer."""

    calls_per_minute: float = Field(
        12, gt=0, le=60, description="calls a prober places per minute, all targets together"
    )
    call_s: float = Field(3.0, ge=1, le=30, description="seconds of media per call")
    call_kbit_s: float = Field(
        260,
        gt=0,
        description="what one probe call moves through a server's NIC, in and out, headers "
        "included: 123 in + 135 out measured on a sandbox server (aiortc's Opus, 96 kbit/s)",
    )
    server_capacity_calls: int = Field(
        500,
        ge=1,
        description="concurrent calls one server carries at the MOS bound; left out, the "
        "provider catalogue's callsPerServer of the PoP's instance type (measured: "
        "bench/bench_load.py), this default only for a prober run by hand without settings",
    )
    max_share_pct: float = Field(
        1.0,
        gt=0,
        le=10,
        description="the most of a server's capacity the mesh's calls may take on average "
        "(calls at once: calls a minute reaching it x seconds a call / 60)",
    )

    def calls_at_once(self, calls_per_minute: float) -> float:
        """On average, on a server that `calls_per_minute` probe calls reach."""
        return calls_per_minute * self.call_s / 60

    def share_pct(self, calls_per_minute: float) -> float:
        """Of a server's capacity, on average."""
        return 100 * self.calls_at_once(calls_per_minute) / self.server_capacity_calls

    @model_validator(mode="after")
    def _calls_fit_the_minute(self) -> "ProbeLoad":
        if self.calls_per_minute * self.call_s > 60:
            raise ValueError(
                f"calls_per_minute {self.calls_per_minute} x call_s {self.call_s} is more than "
                "a minute of calls; allowed: at most 60 s of calls a minute (one at a time)"
            )
        return self


class ProbingSettings(RoleSettings):
    """The PoP's probers. Each server named in `servers` runs one (roles/prober): it calls every
    server of its PoP on its own address, and each PoP of `peers` at its service address and
    on each of its servers' addresses, one call at a time at the pace `load` allows, exports
    each call's figures at http://ADDRESS:`port`/metrics, and judges the PoP's servers by
    `gate`; every announcing server of the PoP follows the verdicts of the first of them that
    answers (the others stand by). Cost: a prober is one Python process (108 MiB, 9.5 % of a
    core calling without a pause, measured), a 245 MB venv, and each server of its PoP carries
    its share of calls: one or two per PoP.
    None named: nothing probes the PoP from inside, and no server follows a media gate (unless
    `anycast.media_gate_sources` names probers run elsewhere)."""

    servers: list[str] = Field(
        default_factory=list,
        description="the PoP's servers that run a prober (two: one stands by for the other)",
    )
    peers: list[str] = Field(
        default_factory=list,
        description="the stacks of the other PoPs its probers call (their service address and "
        "each server), read from those stacks' outputs (a StackReference each): a peer's "
        "first `pulumi up` comes before a PoP names it",
    )
    port: Port = Field(
        PROBER_PORT,
        description="the prober's /metrics and /verdicts, HTTP, open to the PoP's servers and "
        "firewall.scrape_from",
    )
    load: ProbeLoad = Field(default_factory=ProbeLoad)
    gate: MediaGate = Field(default_factory=MediaGate)
    max_exposure: float = Field(
        2.0,
        ge=0,
        le=10,
        description="the prober's `systemd-analyze security` exposure, at most (a user of its "
        "own, no capability: VP-HARD-06 passes at this bound on the sandbox's hosts)",
    )

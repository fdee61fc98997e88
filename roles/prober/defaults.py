"""Every knob of the probing mesh with its default: the prober's load (`ProbeLoad`) and the
media gate that drains a server on bad synthetic calls (`MediaGate`). Pure models; the gate's
logic is quality/media_gate.py."""

from pydantic import Field, model_validator

from roles.settings import RoleSettings


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

"""Every knob of the firewall role with its default: the role's documented interface, and the
PoP spec's `firewall` section (stacks/spec/models.py composes this model).

What the ruleset lets in is otherwise derived from the spec (stacks/host_data.py): SSH from
`access.ssh_admin_ranges`, the SFU's media range and ports, BGP and BFD from the server's own
neighbours."""

from pydantic import Field

from roles.settings import Port, RoleSettings


class FirewallSettings(RoleSettings):
    extra_tcp_ports: list[Port] = Field(
        default_factory=list,
        description="more TCP ports open to everyone (e.g. a TURN/TLS listener on 443)",
    )
    log_dropped: bool = Field(
        False, description="log what the input policy drops (rate-limited: 5 a second)"
    )

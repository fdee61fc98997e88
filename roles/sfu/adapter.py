"""What the sfu role needs of an SFU implementation: small enough that LiveKit, mediasoup or an
in-house server is one more adapter beside Janus."""

from dataclasses import dataclass
from typing import Protocol

from roles.sfu.defaults import SfuSettings


@dataclass(frozen=True)
class HostSide:
    """What the SFU's configuration takes from the host and the stack beside the role's
    settings."""

    server_name: str  # shown by the SFU's info (`<server> (<pop>)`): which server answered
    media_address: str  # the one address media candidates are gathered on
    admin_secret: str  # the admin API's, made on the host once, never exported
    token_secret: str  # the stack's (roles/sfu/access.py): callers' tokens and the admin key


class SfuAdapter(Protocol):
    packages: list[str]  # what the role installs: an image can bake them in
    service: str
    secret_path: str  # where the host keeps its admin secret, generated once, never exported

    def config_files(self, settings: SfuSettings, host: HostSide) -> dict[str, str]:
        """Path -> content of every configuration file the role owns."""

    def stock_files(self) -> list[str]:
        """The packaged configuration files the role removes (demo rooms, unused plugins)."""

"""What the sfu role needs of an SFU implementation: small enough that LiveKit, mediasoup or an
in-house server is one more adapter beside Janus."""

from typing import Protocol

from roles.sfu.defaults import SfuSettings


class SfuAdapter(Protocol):
    packages: list[str]  # what the role installs: an image can bake them in
    service: str
    secret_path: str  # where the host keeps its admin secret, generated once, never exported

    def config_files(self, settings: SfuSettings, admin_secret: str) -> dict[str, str]:
        """Path -> content of every configuration file the role owns."""

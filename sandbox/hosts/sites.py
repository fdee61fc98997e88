"""Where the stand-in's delivered hosts live, by the location they were ordered in: the
sandbox's first site (its bridge, shared with the machine) for every location but
settings.SECOND_LOCATION, whose hosts are on the second site's bridge behind the upstream
router (sandbox/upstream.py routes between the two). Pure."""

import ipaddress
from dataclasses import dataclass

from sandbox import settings


@dataclass(frozen=True)
class HostSite:
    bridge: str
    network: str
    # (destination, via): what a delivered host routes beyond its bridge before its BGP
    # sessions give it a default route: the machine's network, to answer its SSH
    routes: tuple[tuple[str, str], ...] = ()

    @property
    def prefix_length(self) -> int:
        return ipaddress.ip_network(self.network).prefixlen


def host_site(location: str, first_network: str = settings.NETWORK) -> HostSite:
    """The site of a server ordered in `location` (`first_network`: the stand-in's own
    setting for the first site's, which a simulated fleet widens)."""
    if location == settings.SECOND_LOCATION:
        return HostSite(
            settings.SECOND_BRIDGE,
            settings.SECOND_NETWORK,
            ((settings.NETWORK, settings.SECOND_GATEWAY),),
        )
    return HostSite(settings.BRIDGE, first_network)

"""The sandbox's two sites, offline: a server ordered in the second site's location is a host
on the second bridge, with an address of its network and its route to the machine's network
through the upstream router; any other location is the first site's. The upstream router's
config, with its leg on each site, is one BIRD takes (`bird -p`)."""

import ipaddress
import subprocess
from pathlib import Path

import pytest

from sandbox import settings, upstream
from sandbox.hosts.backend import HostRequest
from sandbox.hosts.delivery import ROUTES_DROPIN, delivered_files
from sandbox.hosts.sites import host_site
from tests.plugins.test_flexmetal_lifecycle import deliver, spec
from tests.standin_fixture import StandInUnderTest, standin  # noqa: F401 (a fixture)

pytestmark = pytest.mark.servers


def test_the_second_location_is_the_second_sites_and_every_other_the_first() -> None:
    second = host_site(settings.SECOND_LOCATION)
    assert (second.bridge, second.network) == (settings.SECOND_BRIDGE, settings.SECOND_NETWORK)
    assert second.routes == ((settings.NETWORK, settings.SECOND_GATEWAY),)
    assert ipaddress.ip_address(settings.SECOND_GATEWAY) in ipaddress.ip_network(second.network)
    assert not ipaddress.ip_network(second.network).overlaps(ipaddress.ip_network(settings.NETWORK))
    first = host_site("EU: Rotterdam", "10.9.0.0/16")
    assert (first.bridge, first.network, first.routes) == (settings.BRIDGE, "10.9.0.0/16", ())


def test_a_second_site_host_routes_to_the_machines_network_with_its_address() -> None:
    host = HostRequest("u1", "sbx2-sfu01", "172.31.203.10", 24, (), "bm7.std.8",
                       bridge="vpbr0s2", routes=(("172.30.203.0/24", "172.31.203.1"),))  # fmt: skip
    content, mode = delivered_files(host, "host0")[ROUTES_DROPIN]
    assert content == (
        "[Service]\nExecStart=/sbin/ip route replace 172.30.203.0/24 via 172.31.203.1 dev host0\n"
    )
    assert mode == 0o644
    first = HostRequest("u2", "sbx1-sfu01", "172.30.203.10", 24, (), "bm7.std.8")
    assert ROUTES_DROPIN not in delivered_files(first, "host0")


class Recording:
    """A host backend that keeps what it was asked to start."""

    def __init__(self) -> None:
        self.started: list[HostRequest] = []

    def start(self, host: HostRequest) -> None:
        self.started.append(host)

    def stop(self, server_uuid: str) -> None:
        return None

    def reinstall(self, host: HostRequest) -> None:
        return None


def test_the_standin_delivers_each_location_on_its_sites_network(
    standin: StandInUnderTest,  # noqa: F811 (the fixture)
) -> None:
    recording = Recording()
    standin.api.hosts = recording
    first = deliver(standin, spec("sbx1-sfu01"))
    second = deliver(standin, spec("sbx2-sfu01", location=settings.SECOND_LOCATION))
    address = {
        str(server["name"]): server["ipAddresses"][0]["ipAddress"]  # type: ignore[index]
        for server in (first, second)
    }
    assert ipaddress.ip_address(address["sbx1-sfu01"]) in ipaddress.ip_network(settings.NETWORK)
    assert ipaddress.ip_address(address["sbx2-sfu01"]) in ipaddress.ip_network(
        settings.SECOND_NETWORK
    )
    hosts = {host.name: host for host in recording.started}
    assert (hosts["sbx2-sfu01"].bridge, hosts["sbx2-sfu01"].prefix_length) == (
        settings.SECOND_BRIDGE, 24,
    )  # fmt: skip
    assert hosts["sbx2-sfu01"].routes == ((settings.NETWORK, settings.SECOND_GATEWAY),)
    assert (hosts["sbx1-sfu01"].bridge, hosts["sbx1-sfu01"].routes) == (settings.BRIDGE, ())


def test_the_upstream_routers_config_with_a_leg_on_each_site_is_one_bird_takes(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bird.conf"
    config.write_text(upstream.render_config())
    parsed = subprocess.run(["bird", "-p", "-c", str(config)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    text = config.read_text()
    assert f"neighbor range {settings.NETWORK} external;" in text
    assert f"local {settings.SECOND_GATEWAY} as {settings.UPSTREAM_ASN};" in text
    assert f"neighbor range {settings.SECOND_NETWORK} external;" in text

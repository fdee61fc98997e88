"""The PoP's prober where the spec's `probing.servers` names it: its service running and
started at boot, answering on the host's address with its media gate's state for the PoP's
servers; on any other server, none. One round trip per host."""

from typing import Any

import pytest

from roles.host import HostEntry
from roles.prober import config as rendered
from verify.batch import Read, read_all
from verify.controls import control

pytestmark = pytest.mark.verify


@pytest.fixture(scope="module")
def prober(remote: Any, declared: HostEntry) -> dict[str, Read]:
    reads = {"unit": f"systemctl is-enabled {rendered.UNIT_NAME}; "
                     f"systemctl is-active {rendered.UNIT_NAME}; true"}  # fmt: skip
    if declared.prober is not None:
        where = f"http://{declared.prober.listen}:{declared.prober.port}"
        reads["metrics"] = f"curl -sS --max-time 5 {where}/metrics"
    return read_all(remote, reads)


@control(
    "VP-PRB-01",
    "The PoP's prober runs where the spec names it, and nowhere else",
    "Bad media on a server is found by its PoP's synthetic calls between deploys; a prober "
    "nobody declared places calls nobody accounts for.",
)
def test_the_prober_runs_where_the_spec_names_it(
    prober: dict[str, Read], declared: HostEntry
) -> None:
    state = prober["unit"].output.split()
    if declared.prober is None:
        assert "active" not in state, f"{declared.name}: a prober the spec does not name"
        return
    assert state == ["enabled", "active"], f"{declared.name}: {rendered.UNIT_NAME}: {state}"
    metrics = prober["metrics"].output
    gauge = f'voicepop_pop_servers_in_service{{pop="{declared.prober.pop}"}}'
    assert gauge in metrics, f"{declared.name}: the prober's /metrics has no {gauge}"

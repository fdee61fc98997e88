"""A PoP sized for its peak, offline: the spec's capacity.peak_calls against the calls one
server of its instance type carries (the provider catalogue's callsPerServer), with one server
out (N+1) and with its rollout's largest wave out, checked before anything changes."""

from typing import Any

import pytest

from stacks.spec import SpecError, SpecInvalid, parse_pop
from stacks.spec.capacity import Sizing, probe_load, sizing_of
from stacks.spec.catalogue import load_catalogue
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.spec

PER_SERVER = 500  # round figures for the checks' arithmetic (the catalogue's: measured, below)


@pytest.fixture(autouse=True)
def round_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = load_catalogue("flexmetal").calls_per_server
    monkeypatch.setitem(calls, "bm7.std.8", PER_SERVER)
    monkeypatch.setitem(calls, "bm7.std.16", 2 * PER_SERVER)


def sized(peak: int, servers: int = 4, **deploy: Any) -> dict[str, Any]:
    raw = valid_pop()
    raw["servers"] = {"count": servers}
    raw["capacity"] = {"peak_calls": peak}
    if deploy:
        raw["deploy"] = deploy
    return raw


def errors_of(raw: dict[str, Any]) -> list[SpecError]:
    with pytest.raises(SpecInvalid) as raised:
        parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    return raised.value.errors


def test_every_instance_type_offered_has_its_calls_per_server() -> None:
    catalogue = load_catalogue.__wrapped__("flexmetal")  # as written, not as patched above
    offered = {t for types in catalogue.instance_types_by_location.values() for t in types}
    assert offered == set(catalogue.calls_per_server)
    assert all(calls > 0 for calls in catalogue.calls_per_server.values())


def test_a_pop_too_small_for_its_peak_with_one_server_out_is_refused_with_the_figures() -> None:
    [error] = errors_of(sized(peak=1600, servers=4))
    assert (error.path, error.value) == ("voicepop:pop.capacity.peak_calls", 1600)
    assert error.problem == (
        "4 bm7.std.8 server(s) of 500 calls each carry 1500 calls with one out, 100 short of "
        "the peak"
    )
    assert error.allowed == (
        "at least 5 servers of bm7.std.8 (N+1), an instance type carrying more, or a lower peak"
    )
    parse_pop(sized(peak=1500, servers=4), VALID_CONTEXT, "Pulumi.ams1.yaml")  # exactly N+1


def test_a_rollout_wave_that_would_leave_too_few_calls_is_refused() -> None:
    # 6 servers carry 2500 with one out; a wave of 3 (50 %) leaves 1500 < 2000
    raw = sized(peak=2000, servers=6, rollout={"canary": 1, "batch": "50%"}, min_in_service="50%")
    [error] = errors_of(raw)
    assert (error.path, error.value) == ("voicepop:pop.deploy.rollout.batch", "50%")
    assert error.problem == (
        "a wave of 3 server(s) out leaves 1500 calls (6 bm7.std.8 server(s) of 500 calls each), "
        "below the peak of 2000"
    )
    assert error.allowed == "waves of at most 2 server(s), or more servers"


def test_an_instance_type_without_calls_per_server_cannot_be_sized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = sized(peak=100)
    raw["provider"]["instance_type"] = "bm7.std.16"
    parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")  # it has a figure
    monkeypatch.delitem(load_catalogue("flexmetal").calls_per_server, "bm7.std.16")
    [error] = errors_of(raw)
    assert error.path == "voicepop:pop.capacity.peak_calls"
    assert "no calls per server for bm7.std.16" in error.problem
    assert "bm7.std.8 (500)" in error.allowed


def test_an_unsized_pop_is_not_checked_and_the_figures_add_up() -> None:
    spec = parse_pop(valid_pop(), VALID_CONTEXT, "Pulumi.ams1.yaml")
    assert sizing_of(spec, PER_SERVER) is None
    spec = parse_pop(sized(peak=1200, servers=4), VALID_CONTEXT, "Pulumi.ams1.yaml")
    sizing = sizing_of(spec, PER_SERVER)
    assert sizing == Sizing(servers=4, calls_per_server=500, peak_calls=1200, largest_wave=1)
    assert (sizing.with_one_out, sizing.headroom, sizing.servers_needed) == (1500, 300, 4)
    assert sizing_of(spec, PER_SERVER, servers=3) == Sizing(3, 500, 1200, 1)


def test_the_mesh_counts_a_server_as_the_catalogue_does_unless_the_spec_says_otherwise() -> None:
    """The probing mesh's share of a server (probing.load) is of the calls the catalogue says
    one server of the PoP's instance type carries; a spec's own figure wins."""
    raw = valid_pop()
    spec = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    catalogue = load_catalogue("flexmetal").calls_per_server
    assert probe_load(spec).server_capacity_calls == catalogue[spec.provider.instance_type]
    raw["probing"] = {**raw.get("probing", {}), "load": {"server_capacity_calls": 4321}}
    own = parse_pop(raw, VALID_CONTEXT, "Pulumi.ams1.yaml")
    assert probe_load(own).server_capacity_calls == 4321

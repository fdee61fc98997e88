"""The media gate's judgement, offline: hysteresis on the runs of calls and on the bounds,
the capacity floor never crossed, no flapping for any sequence of calls."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from quality.media_gate import (
    Outcome,
    PopGate,
    ProberPath,
    Verdict,
    judge,
    judge_path,
    new_pop_gate,
)
from roles.prober.defaults import MediaGate

pytestmark = pytest.mark.quality

BOUNDS = MediaGate()  # drain below 3.6 or above 3 % loss after 3; return at 3.9 / 1 % after 5
SERVERS = ["ams1-sfu01", "ams1-sfu02", "ams1-sfu03"]
Kind = tuple[bool, float, float]  # carried media, MOS, loss %
GOOD: Kind = (True, 4.4, 0.0)
BAD: Kind = (True, 3.0, 8.0)
MIDDLING: Kind = (True, 3.75, 2.0)  # neither bad nor good enough to return
NO_MEDIA: Kind = (False, 1.0, 100.0)


def calls(
    pop: PopGate, server: str, kind: Kind, times: int, out_otherwise: frozenset[str] = frozenset()
) -> PopGate:
    for _ in range(times):
        pop = judge(pop, Outcome(server, *kind), BOUNDS, out_otherwise)
    return pop


def test_bad_calls_in_a_row_drain_and_one_good_call_resets_the_run() -> None:
    pop = new_pop_gate(SERVERS, floor=2)
    pop = calls(pop, SERVERS[0], BAD, 2)
    pop = calls(pop, SERVERS[0], GOOD, 1)
    pop = calls(pop, SERVERS[0], BAD, 2)
    assert pop.drained() == []
    pop = calls(pop, SERVERS[0], NO_MEDIA, 1)  # a call without media is a bad one
    assert pop.drained() == [SERVERS[0]]
    assert pop.held() == []


def test_a_drained_server_returns_after_good_calls_in_a_row_only() -> None:
    pop = calls(new_pop_gate(SERVERS, floor=1), SERVERS[1], BAD, 3)
    pop = calls(pop, SERVERS[1], GOOD, 4)
    pop = calls(pop, SERVERS[1], MIDDLING, 1)  # no longer bad, not yet good: stays out
    pop = calls(pop, SERVERS[1], GOOD, 4)
    assert pop.drained() == [SERVERS[1]]
    pop = calls(pop, SERVERS[1], GOOD, 1)
    assert pop.drained() == []
    assert pop.servers[SERVERS[1]].verdict is Verdict.IN_SERVICE


def test_a_server_hovering_between_the_bounds_neither_drains_nor_returns() -> None:
    pop = new_pop_gate(SERVERS, floor=1)
    for _ in range(10):
        pop = calls(pop, SERVERS[0], BAD, 2)
        pop = calls(pop, SERVERS[0], MIDDLING, 1)
    assert pop.drained() == []


def test_the_floor_keeps_the_last_servers_and_holds_them_instead() -> None:
    """The same impairment on every server: one drains (3 servers, floor 2), the others are
    held in service, the alert's cue."""
    pop = new_pop_gate(SERVERS, floor=2)
    for server in SERVERS:
        pop = calls(pop, server, BAD, 3)
    assert pop.drained() == [SERVERS[0]]
    assert pop.held() == SERVERS[1:]
    assert pop.in_service() == 2
    # the drained one recovers: the next held one with a bad call may now go
    pop = calls(pop, SERVERS[0], GOOD, 5)
    pop = calls(pop, SERVERS[1], BAD, 1)
    assert pop.drained() == [SERVERS[1]] and pop.held() == [SERVERS[2]]
    # a held server whose calls are no longer bad is no longer held
    pop = calls(pop, SERVERS[2], MIDDLING, 1)
    assert pop.held() == []


def test_servers_out_for_another_reason_count_against_the_floor() -> None:
    operator_drained = frozenset({SERVERS[2]})
    pop = calls(new_pop_gate(SERVERS, floor=2), SERVERS[0], BAD, 3, out_otherwise=operator_drained)
    assert pop.drained() == [] and pop.held() == [SERVERS[0]]


def test_a_disabled_gate_only_reports() -> None:
    off = MediaGate(enabled=False)
    pop = new_pop_gate(SERVERS, floor=0)
    for _ in range(3):
        pop = judge(pop, Outcome(SERVERS[0], *BAD), off)
    assert pop.drained() == [] and pop.held() == [SERVERS[0]]


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"return_from_mos": 3.5}, "return_from_mos 3.5 is below drain_below_mos 3.6"),
        ({"return_below_loss_pct": 5.0}, "return_below_loss_pct 5.0 is above"),
    ],
)
def test_bounds_without_hysteresis_are_refused_by_name(knobs: dict[str, float], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        MediaGate(**knobs)


outcomes = st.lists(
    st.tuples(
        st.sampled_from(SERVERS),
        st.sampled_from([GOOD, BAD, MIDDLING, NO_MEDIA]),
    ),
    max_size=200,
)


@given(outcomes, st.integers(0, 3))
def test_no_sequence_of_calls_crosses_the_floor_or_flaps(
    sequence: list[tuple[str, Kind]], floor: int
) -> None:
    pop = new_pop_gate(SERVERS, floor)
    calls_since_change = dict.fromkeys(SERVERS, 10**6)
    for server, kind in sequence:
        before = pop.servers[server].verdict
        pop = judge(pop, Outcome(server, *kind), BOUNDS)
        calls_since_change[server] += 1
        after = pop.servers[server].verdict
        assert pop.in_service() >= min(floor, len(SERVERS))
        if after is not before:
            # a change needs a full run of calls of its kind since the last change
            needed = BOUNDS.bad_calls if after is Verdict.DRAINED else BOUNDS.good_calls
            assert calls_since_change[server] >= needed, (server, sequence)
            calls_since_change[server] = 0


def test_the_probers_path_is_suspect_after_bad_calls_elsewhere_and_clears_after_good_ones() -> None:
    path = ProberPath()
    for kind in (BAD, NO_MEDIA):
        path = judge_path(path, Outcome("sbx2-sfu01", *kind), BOUNDS)
    assert not path.suspect
    path = judge_path(path, Outcome("sbx2-sfu02", *BAD), BOUNDS)
    assert path.suspect  # 3 bad calls to other PoPs in a row
    for _ in range(4):
        path = judge_path(path, Outcome("sbx2-sfu01", *GOOD), BOUNDS)
    path = judge_path(path, Outcome("sbx2-sfu01", *MIDDLING), BOUNDS)  # the run of good ends
    for _ in range(4):
        path = judge_path(path, Outcome("sbx2-sfu01", *GOOD), BOUNDS)
    assert path.suspect
    assert not judge_path(path, Outcome("sbx2-sfu01", *GOOD), BOUNDS).suspect


def test_no_server_drains_while_the_probers_path_is_suspect_and_it_drains_once_clear() -> None:
    pop = new_pop_gate(SERVERS, floor=1)
    for _ in range(6):
        pop = judge(pop, Outcome(SERVERS[0], *BAD), BOUNDS, prober_suspect=True)
    assert pop.drained() == [] and pop.held() == []  # neither drained nor held: not judged
    assert pop.servers[SERVERS[0]].bad_in_a_row == 6
    pop = judge(pop, Outcome(SERVERS[0], *BAD), BOUNDS, prober_suspect=False)
    assert pop.drained() == [SERVERS[0]]
    # a server already drained keeps its verdict while the path is suspect
    pop = judge(pop, Outcome(SERVERS[0], *BAD), BOUNDS, prober_suspect=True)
    assert pop.drained() == [SERVERS[0]]

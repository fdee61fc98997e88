"""The media gate's judgement: which servers of a PoP their own synthetic calls take out of
service, and which return, with hysteresis (roles/prober/defaults.py `MediaGate`) and the PoP's
capacity floor. Pure: the prober feeds it each call's outcome and acts on what it decides."""

from dataclasses import dataclass, field, replace
from enum import StrEnum

from roles.prober.defaults import MediaGate


class Verdict(StrEnum):
    IN_SERVICE = "in-service"
    DRAINED = "drained"  # by the gate: its media was bad


@dataclass(frozen=True)
class Outcome:
    """What one synthetic call through a server found."""

    server: str
    ok: bool  # carried media
    mos: float = 1.0
    loss_pct: float = 100.0


@dataclass(frozen=True)
class ServerGate:
    verdict: Verdict = Verdict.IN_SERVICE
    bad_in_a_row: int = 0
    good_in_a_row: int = 0
    held: bool = False  # bad enough to drain, kept in service by the capacity floor


@dataclass(frozen=True)
class PopGate:
    """The gate's state for one PoP: a state per server, and how many servers the PoP must
    keep in service."""

    floor: int
    servers: dict[str, ServerGate] = field(default_factory=dict)

    def drained(self) -> list[str]:
        return sorted(s for s, g in self.servers.items() if g.verdict is Verdict.DRAINED)

    def held(self) -> list[str]:
        return sorted(s for s, g in self.servers.items() if g.held)

    def in_service(self, out_otherwise: frozenset[str] = frozenset()) -> int:
        """Servers in service: neither drained by the gate nor out for another reason (an
        operator's drain, a failed health check)."""
        return sum(
            1
            for server, gate in self.servers.items()
            if gate.verdict is Verdict.IN_SERVICE and server not in out_otherwise
        )


def new_pop_gate(servers: list[str], floor: int) -> PopGate:
    return PopGate(floor, {server: ServerGate() for server in servers})


def is_bad(outcome: Outcome, bounds: MediaGate) -> bool:
    return (
        not outcome.ok
        or outcome.mos < bounds.drain_below_mos
        or outcome.loss_pct > bounds.drain_above_loss_pct
    )


def is_good(outcome: Outcome, bounds: MediaGate) -> bool:
    return (
        outcome.ok
        and outcome.mos >= bounds.return_from_mos
        and outcome.loss_pct <= bounds.return_below_loss_pct
    )


def counted(gate: ServerGate, outcome: Outcome, bounds: MediaGate) -> ServerGate:
    """The server's runs of bad and good calls after this one (a call neither bad nor good
    ends both runs)."""
    bad, good = is_bad(outcome, bounds), is_good(outcome, bounds)
    return replace(
        gate,
        bad_in_a_row=gate.bad_in_a_row + 1 if bad else 0,
        good_in_a_row=gate.good_in_a_row + 1 if good else 0,
    )


@dataclass(frozen=True)
class ProberPath:
    """The prober's own path, judged on its calls to other PoPs: when they go bad as well, a
    fault on its own PoP's calls is more likely its own (its server's NIC, its host) than
    every server's, and the gate drains none until they are good again. The same bounds and
    hysteresis as a server's; a prober calling no other PoP is never suspect."""

    bad_in_a_row: int = 0
    good_in_a_row: int = 0
    suspect: bool = False


def judge_path(path: ProberPath, outcome: Outcome, bounds: MediaGate) -> ProberPath:
    """The prober's path after one of its calls to another PoP."""
    bad = path.bad_in_a_row + 1 if is_bad(outcome, bounds) else 0
    good = path.good_in_a_row + 1 if is_good(outcome, bounds) else 0
    suspect = path.suspect
    if bad >= bounds.bad_calls:
        suspect = True
    elif good >= bounds.good_calls:
        suspect = False
    return ProberPath(bad, good, suspect)


def judge(
    pop: PopGate,
    outcome: Outcome,
    bounds: MediaGate,
    out_otherwise: frozenset[str] = frozenset(),
    prober_suspect: bool = False,
) -> PopGate:
    """The PoP's gate after one call through `outcome.server`: the server drains after
    `bad_calls` bad calls in a row unless that would leave fewer than `floor` servers in
    service (then it is held), and returns after `good_calls` good ones. While the prober's
    own path is suspect (`ProberPath`) a bad server is not drained: it keeps counting, and
    drains on its next bad call once the prober's calls elsewhere are good again."""
    gate = counted(pop.servers.get(outcome.server, ServerGate()), outcome, bounds)
    if gate.verdict is Verdict.DRAINED:
        if gate.good_in_a_row >= bounds.good_calls:
            gate = ServerGate()
    elif gate.bad_in_a_row >= bounds.bad_calls and prober_suspect:
        gate = replace(gate, held=False)
    elif gate.bad_in_a_row >= bounds.bad_calls:
        others = {**pop.servers, outcome.server: replace(gate, verdict=Verdict.DRAINED)}
        left = PopGate(pop.floor, others).in_service(out_otherwise)
        if left >= pop.floor and bounds.enabled:
            gate = replace(gate, verdict=Verdict.DRAINED, held=False, good_in_a_row=0)
        else:
            gate = replace(gate, held=True)
    elif gate.held and not is_bad(outcome, bounds):
        gate = replace(gate, held=False)
    return replace(pop, servers={**pop.servers, outcome.server: gate})

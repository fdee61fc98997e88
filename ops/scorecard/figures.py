"""The scorecard's figures and their rendering, pure: outages from a series of the service
address's state, a PoP's score, the roll-up per provider, Markdown and HTML."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader


@dataclass(frozen=True)
class Outage:
    start: float  # Unix time of the first sample down
    length_s: float  # until the first sample up again (or the period's end)


@dataclass(frozen=True)
class Spread:
    """A figure's median and its bad tail: the 95th percentile, or for MOS (higher is
    better) the 5th: the worst 5 % of the time is beyond it."""

    median: float | None
    tail: float | None


@dataclass(frozen=True)
class PopScore:
    pop: str
    provider: str
    calls: float
    calls_ok: float
    outages: list[Outage]
    mos: Spread
    loss: Spread  # ratio
    rtt_s: Spread
    reconnects_s: list[float] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        return self.calls_ok / self.calls if self.calls else None

    @property
    def outage_s(self) -> float:
        return sum(outage.length_s for outage in self.outages)


def outages_of(samples: Sequence[tuple[float, float]], step_s: float, end: float) -> list[Outage]:
    """Runs of samples at 0 (no vantage point reaching the service address) in a range query
    (time, value) sampled every `step_s`: an outage starts at its first 0 and ends at the
    next 1 (a gap in the series ends none). The resolution is the probe's interval."""
    outages, down_since = [], None
    for at, value in samples:
        if value == 0 and down_since is None:
            down_since = at
        elif value != 0 and down_since is not None:
            outages.append(Outage(down_since, at - down_since))
            down_since = None
    if down_since is not None:
        outages.append(Outage(down_since, max(step_s, end - down_since)))
    return outages


@dataclass(frozen=True)
class ProviderScore:
    provider: str
    pops: list[str]
    calls: float
    availability: float | None
    outages: int
    outage_s: float
    mos_median: float | None
    loss_tail: float | None
    reconnect_median_s: float | None


def by_provider(scores: list[PopScore]) -> list[ProviderScore]:
    rolled = []
    for provider in sorted({score.provider for score in scores}):
        pops = [score for score in scores if score.provider == provider]
        calls = sum(score.calls for score in pops)
        medians = [s.mos.median for s in pops if s.mos.median is not None]
        tails = [s.loss.tail for s in pops if s.loss.tail is not None]
        reconnects = [r for s in pops for r in s.reconnects_s]
        rolled.append(
            ProviderScore(
                provider,
                [score.pop for score in pops],
                calls,
                sum(score.calls_ok for score in pops) / calls if calls else None,
                sum(len(score.outages) for score in pops),
                sum(score.outage_s for score in pops),
                statistics.median(medians) if medians else None,
                max(tails) if tails else None,
                statistics.median(reconnects) if reconnects else None,
            )
        )
    return rolled


def _time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None, fmt: str, scale: float = 1.0, unit: str = "") -> str:
    return "n/a" if value is None else f"{value * scale:{fmt}}{unit}"


def _spread(spread: Spread, fmt: str, scale: float = 1.0, unit: str = "") -> str:
    return f"{_number(spread.median, fmt, scale, unit)} / {_number(spread.tail, fmt, scale, unit)}"


def _reconnects(values: list[float]) -> str:
    if not values:
        return "no drill"
    median, worst = statistics.median(values), max(values)
    return f"{median * 1000:.0f} / {worst * 1000:.0f} ms ({len(values)})"


def table_rows(scores: list[PopScore]) -> list[list[str]]:
    return [
        [
            score.pop,
            score.provider,
            f"{score.calls:.0f}",
            _number(score.availability, ".3f", 100, " %"),
            f"{len(score.outages)} ({score.outage_s:.0f} s)",
            _spread(score.mos, ".2f"),
            _spread(score.loss, ".2f", 100, " %"),
            _spread(score.rtt_s, ".1f", 1000, " ms"),
            _reconnects(score.reconnects_s),
        ]
        for score in scores
    ]


POP_HEADER = [
    "PoP",
    "provider",
    "calls",
    "availability",
    "outages (total)",
    "MOS median / 5th pct",
    "loss median / p95",
    "RTT median / p95",
    "reconnect median / worst (drills)",
]
PROVIDER_HEADER = [
    "provider",
    "PoPs",
    "calls",
    "availability",
    "outages (total)",
    "MOS median",
    "loss p95, worst PoP",
    "reconnect median",
]


def provider_rows(scores: list[PopScore]) -> list[list[str]]:
    return [
        [
            p.provider,
            ", ".join(p.pops),
            f"{p.calls:.0f}",
            _number(p.availability, ".3f", 100, " %"),
            f"{p.outages} ({p.outage_s:.0f} s)",
            _number(p.mos_median, ".2f"),
            _number(p.loss_tail, ".2f", 100, " %"),
            _number(p.reconnect_median_s, ".0f", 1000, " ms"),
        ]
        for p in by_provider(scores)
    ]


def outage_rows(scores: list[PopScore]) -> list[list[str]]:
    return [
        [score.pop, _time(outage.start), f"{outage.length_s:.0f} s"]
        for score in scores
        for outage in score.outages
    ]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(start: float, end: float, scores: list[PopScore]) -> str:
    lines = [
        f"# Provider scorecard, {_time(start)} to {_time(end)}",
        "",
        "Calls to each PoP's service address (anycast) by the probing mesh; availability is "
        "the share of those calls that carried media; an outage lasts while no vantage point's "
        "last call to it carried media (to the probes' interval); reconnect times from the "
        "failover drills.",
        "",
        "## By provider",
        "",
        *_markdown_table(PROVIDER_HEADER, provider_rows(scores)),
        "",
        "## By PoP",
        "",
        *_markdown_table(POP_HEADER, table_rows(scores)),
        "",
        "## Outages",
        "",
    ]
    outages = outage_rows(scores)
    lines += _markdown_table(["PoP", "start", "length"], outages) if outages else ["None."]
    return "\n".join(lines) + "\n"


def render_html(start: float, end: float, scores: list[PopScore]) -> str:
    environment = Environment(loader=PackageLoader("ops.scorecard"), autoescape=True)
    return environment.get_template("scorecard.html.j2").render(
        start=_time(start),
        end=_time(end),
        tables=[
            ("By provider", PROVIDER_HEADER, provider_rows(scores)),
            ("By PoP", POP_HEADER, table_rows(scores)),
            ("Outages", ["PoP", "start", "length"], outage_rows(scores)),
        ],
    )

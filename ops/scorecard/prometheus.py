"""What the scorecard reads: the mesh's metrics from Prometheus's HTTP API (instant queries
over the period, a range query for the outages), the provider of each PoP from its stack file,
the drills' reconnect times."""

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ops.scorecard.figures import PopScore, Spread, outages_of

SERVICE_CALLS = 'path="anycast"'  # the calls to a PoP's service address


class ScorecardError(RuntimeError):
    """Prometheus or an input could not be read; the message names which and why."""


def _api(base: str, endpoint: str, params: dict[str, str]) -> Any:
    url = f"{base.rstrip('/')}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            reply = json.load(answer)
    except (OSError, ValueError) as error:
        raise ScorecardError(f"Prometheus at {base}: {endpoint} failed: {error}") from error
    if reply.get("status") != "success":
        raise ScorecardError(f"Prometheus at {base}: {reply.get('error', reply)}")
    return reply["data"]["result"]


def by_pop(base: str, promql: str, at: float) -> dict[str, float]:
    return {
        sample["metric"].get("target_pop", ""): float(sample["value"][1])
        for sample in _api(base, "query", {"query": promql, "time": str(at)})
    }


def _spread(
    base: str, metric: str, window: str, at: float, tail: float
) -> dict[str, tuple[float, float]]:
    def quantile(q: float) -> dict[str, float]:
        over_time = f"quantile_over_time({q}, {metric}{{{SERVICE_CALLS}}}[{window}])"
        return by_pop(base, f"quantile by (target_pop) ({q}, {over_time})", at)

    medians, tails = quantile(0.5), quantile(tail)
    return {pop: (medians[pop], tails.get(pop, medians[pop])) for pop in medians}


def scores(
    base: str,
    start: float,
    end: float,
    providers: dict[str, str],
    reconnects: dict[str, list[float]],
    step_s: float = 15.0,
) -> list[PopScore]:
    window = f"{max(1, round(end - start))}s"

    def placed(selector: str) -> dict[str, float]:
        increase = f"increase(voicepop_calls_total{{{selector}}}[{window}])"
        return by_pop(base, f"sum by (target_pop) ({increase})", end)

    calls, ok = placed(SERVICE_CALLS), placed(f'{SERVICE_CALLS},result="ok"')
    mos = _spread(base, "voicepop_call_mos", window, end, 0.05)
    loss = _spread(base, "voicepop_call_loss_ratio", window, end, 0.95)
    rtt = _spread(base, "voicepop_call_rtt_seconds", window, end, 0.95)
    states = _api(
        base,
        "query_range",
        {
            # down when no vantage point's last call to the service address carried media
            "query": "max by (target_pop) (voicepop_service_up)",
            "start": str(start),
            "end": str(end),
            "step": str(step_s),
        },
    )
    series = {
        s["metric"].get("target_pop", ""): [(float(t), float(v)) for t, v in s["values"]]
        for s in states
    }

    def spread(figures: dict[str, tuple[float, float]], pop: str) -> Spread:
        median, tail = figures.get(pop, (None, None))
        return Spread(median, tail)

    return [
        PopScore(
            pop,
            providers.get(pop, "unknown provider"),
            calls[pop],
            ok.get(pop, 0.0),
            outages_of(series.get(pop, []), step_s, end),
            spread(mos, pop),
            spread(loss, pop),
            spread(rtt, pop),
            reconnects.get(pop, []),
        )
        for pop in sorted(calls)
    ]


def providers_of(project_dir: Path) -> dict[str, str]:
    """PoP code -> "provider location", from each stack file's PoP spec."""
    found = {}
    for stack_file in sorted(project_dir.glob("Pulumi.*.yaml")):
        pop = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}).get("voicepop:pop")
        if isinstance(pop, dict) and pop.get("code"):
            provider = pop.get("provider") or {}
            found[pop["code"]] = (
                f"{provider.get('name', 'flexmetal')} {provider.get('location', '')}".strip()
            )
    return found


def reconnects_of(drills: list[Path], inventories: list[Path]) -> dict[str, list[float]]:
    """PoP -> reconnect times from the drills' results (bench/bench_reconnect.py's JSON: kind
    -> runs, each with the failed server's address), placed by the inventories' addresses."""
    pop_of = {}
    for inventory in inventories:
        try:
            hosts = json.loads(inventory.read_text())
            pop_of.update({host["address"]: host.get("pop", "") for host in hosts})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ScorecardError(f"{inventory}: not an inventory's JSON ({error})") from error
    found: dict[str, list[float]] = {}
    for drill in drills:
        try:
            runs = json.loads(drill.read_text())
        except (OSError, ValueError) as error:
            raise ScorecardError(f"{drill}: not a drill's results ({error})") from error
        for run in (run for kind_runs in runs.values() for run in kind_runs):
            pop = pop_of.get(run.get("failed_server", ""))
            if pop:
                found.setdefault(pop, []).append(float(run["reconnect_s"]))
    return found

"""Fits the E-model's Opus parameters (Ie, Bpl) to the listening scores of
bench/bench_listening.py's calls (bench/results/listening.json) and prints the table: each
cell's E-model MOS before (G.711 with PLC, the profile the fit starts from) and as fitted,
beside PESQ's MOS-LQO, in the E-model's listening form (quality/calibration.py: a listening
model hears no delay), and the conversational MOS the probe then reports. Two fits: with
G.107's burst term, and with all loss taken as random; the one nearer is chosen.

Usage: .venv/bin/python bench/fit_opus_profile.py [RESULTS]
Writes bench/results/listening-fit.json. The fitted values are then written into
quality/emodel.py's `opus` profile by hand (the profile's source names this file's run); run
again, "as it is" then shows them.
"""

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quality import calibration
from quality.calibration import Cell, Fit, ScoredCall, fit, judged
from quality.emodel import CODECS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "listening.json"
# where the fit starts: the profile G.113 tabulates for G.711 with loss concealment
G711_PLC = CODECS["g711-plc"]
START = replace(CODECS["opus"], ie=G711_PLC.ie, bpl=G711_PLC.bpl, bursts_hurt_more=True)


def cells_of(results: dict[str, Any]) -> list[Cell]:
    cells = []
    for name, cell in results["cells"].items():
        scored = tuple(
            ScoredCall(c["mouth_to_ear_ms"], c["heard_loss_pct"], c["heard_burst_r"],
                       c["listening_mos"])
            for c in cell["calls"]
            if c.get("ok") and c.get("listening_mos") is not None
        )  # fmt: skip
        if scored:
            cells.append(Cell(name, scored))
    return cells


def row(cell: Cell, calls: list[dict[str, Any]], before: Fit, after: Fit,
        reported: dict[str, float]) -> str:  # fmt: skip
    ok = [c for c in calls if c.get("ok")]

    def mean(key: str) -> float:
        return sum(float(c[key]) for c in ok) / len(ok)

    listening = cell.listening_mos
    return (
        f"| {cell.name} | {len(cell.calls)} | {mean('loss_pct'):.1f} | {mean('late_pct'):.1f} | "
        f"{mean('heard_burst_r'):.2f} | {mean('jitter_buffer_ms'):.0f} | "
        f"{mean('mouth_to_ear_ms'):.0f} | **{listening:.2f}** | "
        f"{listening + before.errors[cell.name]:.2f} ({before.errors[cell.name]:+.2f}) | "
        f"{listening + after.errors[cell.name]:.2f} ({after.errors[cell.name]:+.2f}) | "
        f"{reported[cell.name]:.2f} |"
    )


def main(path: Path) -> None:
    results = json.loads(path.read_text())
    cells = cells_of(results)
    clean = next(cell for cell in cells if cell.name == "clean")
    reference = sum(call.mouth_to_ear_ms for call in clean.calls) / len(clean.calls)
    before = judged(cells, START, reference)
    g107 = fit(cells, START, listening_delay_ms=reference)
    as_random = fit(cells, replace(START, bursts_hurt_more=False), listening_delay_ms=reference)
    best = min((g107, as_random), key=lambda found: (found.worst_error, found.rms_error))
    as_it_is = judged(cells, CODECS["opus"], reference)
    reported = {cell.name: calibration.cell_mos(cell, best.codec) for cell in cells}
    calls = {name: cell["calls"] for name, cell in results["cells"].items()}
    print(
        f"{results['calls_per_cell']} calls of {results['call_seconds']:g} s per cell; the "
        f"listening form's delay: the clean cell's mouth-to-ear, {reference:.1f} ms"
    )
    for label, found in (
        ("start, G.711+PLC", before),
        ("fitted, G.107's bursts", g107),
        ("fitted, bursts as random loss", as_random),
        ("quality/emodel.py's opus as it is", as_it_is),
    ):
        print(
            f"{label}: Ie {found.codec.ie:g} Bpl {found.codec.bpl:g} (bursts hurt more: "
            f"{found.codec.bursts_hurt_more}): worst {found.worst_error:.2f}, "
            f"rms {found.rms_error:.2f}"
        )
    print(
        f"\n| cell | calls | loss % | late % | BurstR | buffer ms | mouth-to-ear ms | PESQ-WB | "
        f"E-model before: G.711+PLC (Ie {START.ie:g}, Bpl {START.bpl:g}) | "
        f"E-model fitted (Ie {best.codec.ie:g}, Bpl {best.codec.bpl:g}"
        f"{'' if best.codec.bursts_hurt_more else ', loss as random'}) | "
        "the probe's MOS, fitted (conversational: its delay counts) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cell in cells:
        print(row(cell, calls[cell.name], before, best, reported))

    def described(found: Fit) -> dict[str, Any]:
        return {
            "ie": found.codec.ie,
            "bpl": found.codec.bpl,
            "bursts_hurt_more": found.codec.bursts_hurt_more,
            "worst_error": round(found.worst_error, 3),
            "rms_error": round(found.rms_error, 3),
            "errors": {name: round(error, 3) for name, error in found.errors.items()},
        }

    out = path.with_name("listening-fit.json")
    out.write_text(json.dumps({
        "listening_delay_ms": round(reference, 1),
        "start": described(before), "fitted_g107_bursts": described(g107),
        "fitted_bursts_as_random": described(as_random), "chosen": described(best),
        "listening_mos": {cell.name: round(cell.listening_mos, 3) for cell in cells},
        "reported_mos": {name: round(mos, 3) for name, mos in reported.items()},
    }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS)

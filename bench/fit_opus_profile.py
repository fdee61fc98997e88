"""Fits the E-model's Opus parameters (Ie, Bpl) to the listening scores of
bench/bench_listening.py's calls (bench/results/listening.json) and prints the table: each
cell's E-model MOS with the profile as it is and as fitted, beside PESQ's MOS-LQO.

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

from quality.calibration import Cell, Fit, ScoredCall, fit, judged
from quality.emodel import CODECS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "listening.json"
# where the fit starts: the profile G.113 tabulates for G.711 with loss concealment
START = replace(CODECS["opus"], ie=CODECS["g711-plc"].ie, bpl=CODECS["g711-plc"].bpl)


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


def row(cell: Cell, calls: list[dict[str, Any]], before: Fit, after: Fit) -> str:
    ok = [c for c in calls if c.get("ok")]

    def mean(key: str) -> float:
        return sum(float(c[key]) for c in ok) / len(ok)

    listening = cell.listening_mos
    return (
        f"| {cell.name} | {len(cell.calls)} | {mean('loss_pct'):.1f} | {mean('late_pct'):.1f} | "
        f"{mean('heard_burst_r'):.2f} | {mean('jitter_buffer_ms'):.0f} | "
        f"{mean('mouth_to_ear_ms'):.0f} | **{listening:.2f}** | "
        f"{listening + before.errors[cell.name]:.2f} ({before.errors[cell.name]:+.2f}) | "
        f"{listening + after.errors[cell.name]:.2f} ({after.errors[cell.name]:+.2f}) |"
    )


def main(path: Path) -> None:
    results = json.loads(path.read_text())
    cells = cells_of(results)
    before_start = judged(cells, START)
    as_it_is = judged(cells, CODECS["opus"])
    fitted = fit(cells, START)
    calls = {name: cell["calls"] for name, cell in results["cells"].items()}
    print(f"{results['calls_per_cell']} calls of {results['call_seconds']:g} s per cell")
    print(
        f"start: G.711+PLC Ie {START.ie:g} Bpl {START.bpl:g}: worst {before_start.worst_error:.2f}"
    )
    print(f"as it is: Ie {CODECS['opus'].ie:g} Bpl {CODECS['opus'].bpl:g}: "
          f"worst {as_it_is.worst_error:.2f}, rms {as_it_is.rms_error:.2f}")  # fmt: skip
    print(f"fitted: Ie {fitted.codec.ie:g} Bpl {fitted.codec.bpl:g}: "
          f"worst {fitted.worst_error:.2f}, rms {fitted.rms_error:.2f}\n")  # fmt: skip
    print(f"| cell | calls | loss % | late % | BurstR | buffer ms | mouth-to-ear ms | PESQ-WB | "
          f"E-model, G.711+PLC (Ie {START.ie:g}, Bpl {START.bpl:g}) | "
          f"E-model, fitted (Ie {fitted.codec.ie:g}, Bpl {fitted.codec.bpl:g}) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cell in cells:
        print(row(cell, calls[cell.name], before_start, fitted))
    out = path.with_name("listening-fit.json")
    out.write_text(json.dumps({
        "start": {"ie": START.ie, "bpl": START.bpl, "worst_error": before_start.worst_error,
                  "errors": before_start.errors},
        "fitted": {"ie": fitted.codec.ie, "bpl": fitted.codec.bpl,
                   "worst_error": fitted.worst_error, "rms_error": fitted.rms_error,
                   "errors": fitted.errors},
        "listening_mos": {cell.name: cell.listening_mos for cell in cells},
    }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS)

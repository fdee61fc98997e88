"""Benchmark: how long a caller on the sandbox PoP's anycast address is cut off when the server
carrying its call fails, per failure kind (sandbox/failover.py's drills: SFU crash, power-off
as the network sees it, planned drain), with the parts: detection, withdrawal seen upstream,
the new call's setup. Each kind RUNS times; the median and the worst; one timeline PNG per kind.

Usage: python bench/bench_reconnect.py [RUNS]   (after `make up`; prints a Markdown table and
writes bench/results/reconnect.json and bench/results/failover-KIND.png)
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
INVENTORY = PROJECT / "inventories" / "sandbox.json"
RESULTS = PROJECT / "bench" / "results"
KINDS = ("sfu-crash", "power-off", "drain")
PARTS = ("reconnect_s", "gap_s", "detection_s", "withdrawal_s", "setup_s")


def drill(kind: str, out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "sandbox.failover", kind, "--inventory", str(INVENTORY),
               "--watch", "10", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind}: the drill failed: {result.stderr}")
    figures: dict[str, Any] = json.loads((out / f"failover-{kind}.json").read_text())["figures"]
    return figures


def cell(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {max(values) * 1000:.0f}"


def main(runs: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    table: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        with tempfile.TemporaryDirectory() as folder:
            table[kind] = [drill(kind, Path(folder)) for _ in range(runs)]
            (RESULTS / f"failover-{kind}.png").write_bytes(
                (Path(folder) / f"failover-{kind}.png").read_bytes()
            )
    (RESULTS / "reconnect.json").write_text(json.dumps(table, indent=1) + "\n")
    headers = ("reconnect", "silence heard", "detection", "withdrawal seen upstream", "setup")
    print(f"| failure ({runs} runs; ms, median / worst) | " + " | ".join(headers) + " |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, runs_of_kind in table.items():
        cells = [cell([float(run[part]) for run in runs_of_kind]) for part in PARTS]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

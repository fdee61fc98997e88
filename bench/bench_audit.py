"""Benchmark: the host audit (`make audit`) on the live sandbox of `make up`: the whole PoP,
then each host alone (an inventory of one), and the policy pack's cost on a preview.

Usage: python bench/bench_audit.py [RUNS]   (after `make up`; prints a Markdown table)
"""

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
INVENTORY = PROJECT / "inventories" / "sandbox.json"


def timed(command: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True)
    return time.monotonic() - started, result.returncode


def audit(inventory: Path, out: Path) -> tuple[float, int]:
    return timed([sys.executable, "-m", "audit", "--inventory", str(inventory), "--out", str(out)])


def preview(with_pack: bool) -> tuple[float, int]:
    pack = ["--policy-pack", "policies", "--policy-pack-config", "policies/config.json"]
    return timed(
        [
            "tools/stack-env.sh",
            "sandbox",
            "pulumi",
            "preview",
            "--stack",
            "sandbox",
            "--non-interactive",
            *(pack if with_pack else []),
        ]
    )


def best(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    hosts = json.loads(INVENTORY.read_text())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        pop = best(runs, lambda: audit(INVENTORY, out / "pop")[0])
        rows.append((f"audit, the sandbox PoP ({len(hosts)} hosts, parallel)", pop))
        for host in hosts:
            one = out / f"{host['name']}.json"
            one.write_text(json.dumps([host]))
            seconds = best(runs, partial(lambda path: audit(path, out / path.stem)[0], one))
            rows.append((f"audit, {host['name']} alone", seconds))
    for label, with_pack in (("no policy pack", False), ("with the policy pack", True)):
        seconds = best(runs, partial(lambda pack: preview(pack)[0], with_pack))
        rows.append((f"preview of the sandbox stack, {label}", seconds))
    print(f"| what | best of {runs} |\n|---|---:|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.1f} s |")


if __name__ == "__main__":
    main()

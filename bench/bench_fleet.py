"""Benchmark: fleet runs over a simulated fleet (ops/fleet/simulate.py) of N PoPs of M
servers, against the provider stand-in and moto's Route 53 in API-only mode.

Usage: python bench/bench_fleet.py [N:M ...]   (default: 10:20 25:20 50:20 50:10)
       python bench/bench_fleet.py --plot RESULTS.json OUT.png

For each size: `up` of the whole fleet (from nothing), a preview with nothing changed, a
preview with one role change (a kernel knob of every PoP: every host deploy's trigger
changes), and a preview of one changed PoP; each through `python -m ops.fleet` as `make
fleet-preview` runs it (workers: one per core, the project's policy pack on), timed by the
wall clock, with the peak memory of its whole process tree (the engines, language hosts,
programs and plugins: every process's RSS summed, sampled every 0.2 s). Writes
bench/results/fleet-<date>.json and bench/results/fleet-<date>.png (seconds and GiB against
the fleet's size).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from ops.fleet.simulate import fleet_environment, running_standins, write_fleet  # noqa: E402
from sandbox.processes import process_tree  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_SIZES = [(10, 20), (25, 20), (50, 20), (50, 10)]


def process_tree_rss(root: int) -> int:
    """The summed RSS (bytes) of `root` and all its descendants."""
    total = 0
    for pid in process_tree(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def measured(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=PROJECT, env={**os.environ, **env}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process_tree_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-4000:]}")
    return {"seconds": round(seconds, 1), "peak_gib": round(peak / 2**30, 2), "tail": output[-400:]}


# as `make fleet-preview` and `make fleet-up` run them: with the project's policy pack
POLICY_FLAGS = (
    "--policy-pack", str(PROJECT / "policies"),
    "--policy-pack-config", str(PROJECT / "policies/config.json"),
)  # fmt: skip


def fleet(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ops.fleet", *args, "--project-dir", str(project),
            *POLICY_FLAGS]  # fmt: skip


def bench_size(pops: int, servers: int, work: Path, ports: tuple[int, int]) -> dict[str, Any]:
    root = work / f"{pops}x{servers}"
    with running_standins(root, *ports) as at:
        project = root / "fleet"
        env = fleet_environment(root)
        stacks = write_fleet(project, pops, servers, at)
        figures: dict[str, Any] = {"pops": pops, "servers": servers}
        figures["up"] = measured(fleet(project, "up"), env)
        figures["preview_no_change"] = measured(fleet(project, "preview"), env)
        write_fleet(project, pops, servers, at, {"udp_rmem_min_bytes": 32_768})
        figures["preview_role_change"] = measured(fleet(project, "preview"), env)
        figures["preview_one_pop"] = measured(fleet(project, "preview", "--stacks", stacks[0]), env)
    for name in ("up", "preview_no_change", "preview_role_change", "preview_one_pop"):
        figures[name].pop("tail")
    return figures


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Seconds and memory against the number of PoPs, a line per operation for each PoP size
    (servers per PoP)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    operations = [
        ("up", "up (from nothing)"),
        ("preview_no_change", "preview, nothing changed"),
        ("preview_role_change", "preview, a role change"),
        ("preview_one_pop", "preview of one PoP"),
    ]
    for servers, style in zip(
        sorted({r["servers"] for r in results}, reverse=True), ["o-", "s--", "^:"], strict=False
    ):
        runs = sorted((r for r in results if r["servers"] == servers), key=lambda r: r["pops"])
        for index, (name, label) in enumerate(operations):
            color = f"C{index}"
            pops = [r["pops"] for r in runs]
            left.plot(pops, [r[name]["seconds"] for r in runs], style, color=color,
                      label=f"{label}, {servers} servers a PoP")  # fmt: skip
            right.plot(pops, [r[name]["peak_gib"] for r in runs], style, color=color)
    left.set(xlabel="PoPs in the fleet", ylabel="seconds", title="time")
    right.set(xlabel="PoPs in the fleet", ylabel="GiB (process tree, peak)", title="memory",
              ylim=(0, 2.2))  # fmt: skip
    left.axhline(60, color="grey", linestyle=":", linewidth=1)
    right.axhline(2, color="grey", linestyle=":", linewidth=1)
    left.legend(fontsize=7)
    figure.suptitle(f"fleet runs on {os.cpu_count()} cores (ops.fleet, one worker per core)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--plot"]:  # draw a saved run again: --plot RESULTS.json OUT.png
        plot(json.loads(Path(argv[1]).read_text()), Path(argv[2]))
        return
    sizes = [tuple(map(int, a.split(":"))) for a in argv] or DEFAULT_SIZES
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as work:
        for pops, servers in sizes:
            figures = bench_size(pops, servers, Path(work), (28787, 28788))
            print(json.dumps(figures), flush=True)
            results.append(figures)
    stamp = time.strftime("%Y-%m-%d")
    out = PROJECT / "bench" / "results"
    (out / f"fleet-{stamp}.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, out / f"fleet-{stamp}.png")
    print(f"written: bench/results/fleet-{stamp}.json and .png")


if __name__ == "__main__":
    main(sys.argv[1:])

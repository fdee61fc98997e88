"""A PoP's rolling deploy drawn from its record: the e2e test of an SFU change over four
servers (a canary, then batches of two; wave 2's gate fails, the re-run resumes) keeps
`rollout-timeline.json` in its sandbox folder: each run's deploy marks per host and the
upstream router's paths to the anycast prefix, sampled every 0.2 s.

Usage: python bench/rollout_timeline.py RECORD.json [OUT.png]
Prints the timeline as tables (seconds from the first run's start) and draws it.
"""

import json
import sys
from pathlib import Path
from typing import Any

EVENTS = ("start", "drained", "deployed", "verified", "gate passed", "in service", "done", "failed")
Marks = dict[str, dict[str, float]]


def zero_of(record: dict[str, Any]) -> float:
    return float(min(m["start"] for run in record["runs"] for m in run.values() if m))


def table(record: dict[str, Any]) -> str:
    zero = zero_of(record)
    wave_of = {s: n for n, wave in enumerate(record["waves"], 1) for s in wave}
    lines = []
    for number, run in enumerate(record["runs"], 1):
        lines += [f"\nrun {number}", "| server | wave | " + " | ".join(EVENTS) + " |",
                  "|---|---:|" + "---:|" * len(EVENTS)]  # fmt: skip
        for server, marks in sorted(run.items(), key=lambda item: wave_of[item[0]]):
            if marks:
                cells = [f"{marks[e] - zero:.1f}" if e in marks else "" for e in EVENTS]
                lines.append(f"| {server} | {wave_of[server]} | " + " | ".join(cells) + " |")
    counts = [count for _, count in record["upstream"]]
    lines.append(
        f"\nupstream paths to the anycast prefix: {max(counts)} at most, {min(counts)} at the "
        "fewest"
    )
    return "\n".join(lines)


def draw(record: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    zero = zero_of(record)
    servers = [s for wave in record["waves"] for s in wave]
    figure, (hosts, paths) = plt.subplots(
        2, 1, figsize=(10, 4.8), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for run in record["runs"]:
        for row, server in enumerate(reversed(servers)):
            m = {k: v - zero for k, v in run.get(server, {}).items()}
            if not m:
                continue
            end = m.get("done", m.get("failed", m["start"]))
            hosts.barh(row, end - m["start"], left=m["start"], color="#9ecae1")
            if "drained" in m:
                back = m.get("in service", end)
                hosts.barh(row, back - m["drained"], left=m["drained"], color="#fc9272", height=0.4)
            if "failed" in m:
                hosts.plot([m["failed"]], [row], "kx")
    hosts.set_yticks(range(len(servers)), list(reversed(servers)))
    hosts.set_title("deploys (blue), out of service (red), a failed gate (x); two runs of `up`")
    times = [at - zero for at, _ in record["upstream"]]
    paths.step(times, [count for _, count in record["upstream"]], where="post")
    paths.set(xlabel="seconds from the first run's start", ylabel="upstream paths",
              ylim=(0, len(servers) + 0.5))  # fmt: skip
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main(argv: list[str]) -> None:
    record = json.loads(Path(argv[0]).read_text())
    print(table(record))
    if len(argv) > 1:
        draw(record, Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The fleet's command line (`make fleet-preview`, `make fleet-up`).

python -m ops.fleet preview [--stacks S ...] [--skip S ...] [--project-dir DIR]
                               [--workers N] [--policy-pack P [--policy-pack-config C]] ...
python -m ops.fleet up      [the same] [--canary POP ...] [--wave-size N]

Every stack of the project (or of --project-dir) unless --stacks chooses; a line per stack as
it finishes, a table at the end (--json FILE: also as JSON). Exit 0 when every stack
succeeded, 1 when one failed (the others still ran), 2 on a bad flag. `up` runs the --canary
PoPs first, then the rest in waves of --wave-size PoPs (0: all at once), and stops after the
first wave in which a PoP failed.
"""

import argparse
import sys
from pathlib import Path

from ops.affected import stacks_of
from ops.fleet.plan import FleetError, Selection, pop_waves, selected
from ops.fleet.report import StackResult, as_json, progress_line, summary_table
from ops.fleet.runs import FleetOptions, preview_fleet, up_fleet
from stacks.project import PROJECT_DIR


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ops.fleet", description=__doc__)
    top.add_argument("operation", choices=("preview", "up"))
    top.add_argument("--stacks", nargs="+", default=[], help="only these (default: all)")
    top.add_argument("--skip", nargs="+", default=[], help="never these")
    top.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_DIR,
        help="a Pulumi.yaml and its Pulumi.<stack>.yaml files (default: this project; "
        "a simulated fleet's: ops/fleet/simulate.py)",
    )
    top.add_argument("--workers", type=int, default=0, help="stacks at once (default: cores)")
    top.add_argument("--policy-pack", type=Path, action="append", default=[])
    top.add_argument("--policy-pack-config", type=Path, action="append", default=[])
    top.add_argument("--canary", nargs="+", default=[], help="up: these PoPs first, alone")
    top.add_argument(
        "--wave-size", type=int, default=0, help="up: PoPs per later wave (0: all at once)"
    )
    top.add_argument(
        "--allow-capacity-loss",
        action="store_true",
        help="up: remove servers even below a PoP's capacity floor (deploy.min_in_service)",
    )
    top.add_argument("--json", type=Path, help="also write the results here as JSON")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        waves = plan_of(args)
    except FleetError as error:
        print(f"fleet: {error}", file=sys.stderr)
        return 2
    options = FleetOptions(
        project_dir=args.project_dir.resolve(),
        policy_packs=tuple(args.policy_pack),
        policy_pack_configs=tuple(args.policy_pack_config),
        workers=args.workers,
        allow_capacity_loss=args.allow_capacity_loss,
    )
    stacks = [stack for wave in waves for stack in wave]
    print(
        f"fleet {args.operation}: {len(stacks)} stack(s), {options.parallel} at a time", flush=True
    )
    if args.operation == "preview":
        results = preview_fleet(stacks, options, print_progress)
    else:
        print("waves of PoPs: " + " → ".join(", ".join(wave) for wave in waves), flush=True)
        results = up_fleet(waves, options, print_progress)
    print("\n" + summary_table(results), end="")
    if args.json:
        args.json.write_text(as_json(results))
    return 1 if any(result.status != "ok" for result in results) else 0


def plan_of(args: argparse.Namespace) -> list[list[str]]:
    if args.workers < 0:
        raise FleetError(f"--workers {args.workers}: allowed: 0 (one per core) or more")
    if len(args.policy_pack_config) > len(args.policy_pack):
        raise FleetError("more --policy-pack-config than --policy-pack")
    if args.operation == "preview" and (args.canary or args.wave_size):
        raise FleetError("--canary and --wave-size order an up; a preview runs every stack at once")
    folder = args.project_dir
    if not (folder / "Pulumi.yaml").is_file():
        raise FleetError(f"--project-dir {folder}: no Pulumi.yaml there")
    stacks = selected(stacks_of(folder), args.stacks, args.skip)
    if not stacks:
        raise FleetError(f"no stack to run in {folder}")
    return pop_waves(Selection(tuple(stacks), tuple(args.canary), args.wave_size))


def print_progress(result: StackResult, done: int, total: int) -> None:
    print(progress_line(result, done, total), flush=True)


if __name__ == "__main__":
    sys.exit(main())

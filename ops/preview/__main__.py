"""The pull-request preview's command line.

python -m ops.preview affected BASE HEAD [--json | --matrix [--skip S...]]
    the stacks a change touches, one per line with why (--json: with why; --matrix: a JSON
    list for a CI matrix); stack files the change deletes are named on standard error
python -m ops.preview comment (--base BASE --head HEAD | --stacks S...) --out FILE
                                 [--save FILE]
    previews those stacks in parallel (the Automation API) and writes the Markdown comment
    (--save: the previews as JSON too); exit 1 when a stack's preview failed (the comment
    is written all the same)
python -m ops.preview join PATH... --out FILE
    one comment of previews saved apart (one CI matrix job per stack): files or folders
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ops.affected import affected_in, stacks_of
from ops.preview.comment import nothing_to_preview, render
from ops.preview.run import PreviewOptions, preview_stacks
from ops.preview.saved import load, save


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ops.preview")
    commands = top.add_subparsers(dest="command", required=True)
    affected = commands.add_parser("affected", help="the stacks a change from BASE to HEAD touches")
    affected.add_argument("base", help="the branch the pull request goes into, e.g. origin/main")
    affected.add_argument("head", help="the pull request's commit, e.g. HEAD")
    affected.add_argument("--json", action="store_true", help="as JSON, with why")
    affected.add_argument("--matrix", action="store_true", help="a JSON list, for a CI matrix")
    affected.add_argument("--skip", nargs="+", default=[], help="with --matrix: never these")
    affected.add_argument("--repo", type=Path, default=Path.cwd())
    listing = commands.add_parser("stacks", help="this repository's stacks as a JSON list")
    listing.add_argument("--skip", nargs="+", default=[])
    listing.add_argument("--repo", type=Path, default=Path.cwd())
    comment = commands.add_parser("comment", help="preview stacks and write the PR comment")
    comment.add_argument("--base", help="with --head: preview the stacks this change touches")
    comment.add_argument("--head", default="HEAD")
    comment.add_argument("--stacks", nargs="+", help="these stacks instead")
    comment.add_argument(
        "--skip", nargs="+", default=[], help="never these (CI skips the local sandbox stack)"
    )
    comment.add_argument(
        "--no-hosts", action="store_true", help="without the roles' dry run on the live hosts"
    )
    comment.add_argument(
        "--config-file", type=Path, help="with one of --stacks: its config from this file"
    )
    comment.add_argument("--policy-pack", type=Path, action="append", default=[])
    comment.add_argument(
        "--policy-pack-config",
        type=Path,
        action="append",
        default=[],
        help="a policy config file (levels, properties) for each --policy-pack, in order",
    )
    comment.add_argument("--out", type=Path, required=True, help="the Markdown file to write")
    comment.add_argument("--save", type=Path, help="also the previews, as JSON (for `join`)")
    comment.add_argument("--repo", type=Path, default=Path.cwd())
    join = commands.add_parser("join", help="one comment of previews saved with --save")
    join.add_argument("saved", type=Path, nargs="+", help="saved previews: files or folders")
    join.add_argument("--out", type=Path, required=True, help="the Markdown file to write")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "affected":
            return print_affected(args)
        if args.command == "join":
            return join_saved(args)
        if args.command == "stacks":
            names = [s for s in stacks_of(args.repo) if s not in args.skip]
            print(json.dumps(names))
            return 0
        return write_comment(args)
    except subprocess.CalledProcessError as error:
        print(f"git {' '.join(error.cmd[3:])}: {error.stderr.strip()}", file=sys.stderr)
        return 1


def print_affected(args: argparse.Namespace) -> int:
    found = affected_in(args.repo, args.base, args.head)
    if args.matrix:
        print(json.dumps([stack for stack in sorted(found.stacks) if stack not in args.skip]))
    elif args.json:
        print(json.dumps(found.as_dict(), indent=2))
    else:
        for stack, reasons in sorted(found.stacks.items()):
            print(f"{stack}\t{'; '.join(reasons)}")
    for stack in found.removed:
        print(
            f"{stack}: its stack file is deleted; destroy it with `pulumi destroy`", file=sys.stderr
        )
    return 0


def write_comment(args: argparse.Namespace) -> int:
    if args.stacks:
        stacks = list(args.stacks)
        selection = f"--stacks {' '.join(stacks)}"
    elif args.base:
        stacks = sorted(affected_in(args.repo, args.base, args.head).stacks)
        selection = f"--base {args.base} --head {args.head}"
    else:
        print("comment: give --base (and --head) or --stacks", file=sys.stderr)
        return 2
    stacks = [stack for stack in stacks if stack not in args.skip]
    if args.config_file and len(stacks) != 1:
        print("comment: --config-file needs exactly one stack", file=sys.stderr)
        return 2
    config_files = {stacks[0]: args.config_file} if args.config_file else {}
    if len(args.policy_pack_config) > len(args.policy_pack):
        print("comment: more --policy-pack-config than --policy-pack", file=sys.stderr)
        return 2
    options = PreviewOptions(
        policy_packs=tuple(args.policy_pack),
        policy_pack_configs=tuple(args.policy_pack_config),
        config_files=config_files,
        hosts=not args.no_hosts,
    )
    previews = preview_stacks(stacks, options)
    commands = [
        f"python -m ops.preview comment {selection} --out {args.out}",
        *(f"make preview STACK={stack}" for stack in stacks),
    ]
    args.out.write_text(render(previews, commands) if stacks else nothing_to_preview())
    if args.save:
        save(previews, args.save)
    failed = [p.stack for p in previews if p.failed]
    print(
        f"{args.out}: {len(stacks)} stack(s) previewed" + (f", failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


def join_saved(args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.saved if not path.exists()]
    if missing:
        print(f"join: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    previews = load(args.saved)
    commands = [f"make preview STACK={p.stack}" for p in previews]
    args.out.write_text(render(previews, commands) if previews else nothing_to_preview())
    failed = [p.stack for p in previews if p.failed]
    print(f"{args.out}: {len(previews)} stack(s)" + (f", failed: {failed}" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

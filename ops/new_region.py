"""A new region in one command: scaffolds `Pulumi.<pop>.yaml` from a few flags, the rest taken
from an existing PoP of the fleet (`--like`, default: the first production one) — its ASN,
provider routers and their MD5 key, DNS, access and SFU settings — checks it as the stack
program will (the spec, the catalogue, the routing registry, overlaps with every other PoP),
and only then writes it, initialises the stack on the configured backend, sets its secrets
and shows its preview. A bad flag gets the spec's error; nothing is written or created.

    python -m ops.new_region --pop lax1 --location "NA: Los Angeles" --servers 4
    make new-region POP=lax1 LOCATION="NA: Los Angeles" SERVERS=4
"""

import argparse
import copy
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from roles.sfu.access import TOKEN_SECRET_KEY
from roles.sfu.tls import ROUTE53_SECRET_KEY
from stacks.spec import SpecInvalid
from stacks.spec.catalogue import load_catalogue
from stacks.spec.checks import StackContext, check_across_pops
from stacks.spec.errors import SpecError, sorted_errors
from stacks.spec.loading import parse_pop, read_stack_file, stack_files, valid_specs
from stacks.spec.routing import check_routing, load_registry

NAMESPACE = "voicepop"


@dataclass(frozen=True)
class Region:
    """What the flags say; None: as the template PoP has it."""

    pop: str
    location: str
    servers: int
    name: str | None = None
    instance_type: str | None = None
    prefixes: tuple[str, ...] = ()
    aws_region: str | None = None
    environment: str | None = None
    peak_calls: int | None = None  # its own expected peak (never the template's)


def template_of(project_dir: Path, like: str | None) -> tuple[str, dict[str, Any]]:
    """The stack name and raw spec of the PoP the new one is modelled on."""
    files = {f.stack: f for f in map(read_stack_file, stack_files(project_dir))}
    production = [
        name
        for name, f in sorted(files.items())
        if isinstance(f.raw_pop, Mapping)
        and f.raw_pop.get("environment", "production") == "production"
    ]
    chosen = like or (production[0] if production else None)
    if chosen not in files:
        raise SpecInvalid(
            "--like", [SpecError("--like", chosen, "no such stack file", ", ".join(sorted(files)))]
        )
    return chosen, copy.deepcopy(dict(files[chosen].raw_pop))


def scaffold(region: Region, template: Mapping[str, Any]) -> dict[str, Any]:
    """The new PoP's spec: the template's, with what is the new PoP's own. Pure."""
    pop = copy.deepcopy(dict(template))
    pop["code"] = region.pop
    pop["name"] = region.name or region.pop.upper()
    if region.environment:
        pop["environment"] = region.environment
    provider = pop.setdefault("provider", {})
    provider["location"] = region.location
    provider["instance_type"] = region.instance_type or default_instance_type(
        provider.get("name", "flexmetal"), region.location, provider.get("instance_type")
    )
    pop["servers"] = {"count": region.servers}
    bgp = pop.setdefault("bgp", {})
    if region.prefixes:
        bgp["prefixes"] = [{"prefix": p, "kind": "anycast"} for p in region.prefixes]
    else:  # the fleet's anycast prefixes; a PoP's unicast ones are its own
        bgp["prefixes"] = [p for p in bgp.get("prefixes", []) if p.get("kind") == "anycast"]
    if region.aws_region:
        pop.setdefault("dns", {}).setdefault("steering", {})["aws_region"] = region.aws_region
    # its own peak, and probers on its own servers: the template's name another PoP's
    pop.pop("capacity", None)
    if region.peak_calls is not None:
        pop["capacity"] = {"peak_calls": region.peak_calls}
    probing = pop.get("probing")
    if isinstance(probing, dict):
        probing.pop("servers", None)
        probing.pop("peers", None)
    return pop


def default_instance_type(provider: str, location: str, template_type: str | None) -> str:
    """The template's instance type where the location offers it, else the first offered
    (an unknown location is left to the spec's check, which names the known ones)."""
    offered = load_catalogue(provider).instance_types_by_location.get(location, ())
    if template_type in offered or not offered:
        return template_type or ""
    return offered[0]


def secret_names(pop: Mapping[str, Any]) -> list[str]:
    neighbors = (pop.get("bgp") or {}).get("neighbors") or []
    md5_keys = sorted({n["md5_secret"] for n in neighbors if n.get("md5_secret")})
    # the fleet's one token secret and the ACME client's key, the template's
    return [*md5_keys, TOKEN_SECRET_KEY, ROUTE53_SECRET_KEY]


def check_new_pop(pop: dict[str, Any], stack: str, project_dir: Path) -> list[SpecError]:
    """Every error the stack program would raise, and an existing stack file of that name."""
    source = f"Pulumi.{stack}.yaml"
    errors = []
    if (project_dir / source).exists():
        errors.append(SpecError(f"{NAMESPACE}:pop.code", stack, f"{source} exists already"))
    context = StackContext(stack=stack, config_keys=dict.fromkeys(secret_names(pop), True))
    try:
        spec = parse_pop(pop, context, source)
    except SpecInvalid as invalid:
        return sorted_errors([*errors, *invalid.errors])
    others = valid_specs(p for p in stack_files(project_dir) if p.name != source)
    errors += check_across_pops({source: spec, **others})[source]
    errors += check_routing(spec, load_registry(project_dir))
    return sorted_errors(errors)


def stack_document(pop: dict[str, Any], template: str) -> str:
    header = f"# {pop['name']}: scaffolded by `make new-region` from {template}'s spec.\n"
    return header + yaml.safe_dump({"config": {f"{NAMESPACE}:pop": pop}}, sort_keys=False)


# --- I/O ------------------------------------------------------------------------------------


def pulumi(
    project_dir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=project_dir,
        input=stdin,
        capture_output=True,
        text=True,
    )


def template_secrets(project_dir: Path, template: str, names: list[str]) -> dict[str, str]:
    """The template PoP's secret values (its provider routers' MD5 key), through its stack."""
    values = {}
    for name in names:
        result = subprocess.run(
            ["tools/stack-env.sh", template, "pulumi", "config", "get", name, "--stack", template],
            cwd=project_dir,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"cannot read {name} of stack {template}: {result.stderr.strip()}")
        values[name] = result.stdout.strip()
    return values


def create_stack(project_dir: Path, stack: str, document: str, secrets: dict[str, str]) -> None:
    """Writes the stack file, initialises the stack and sets its secrets; on any failure the
    stack file and the stack are removed again."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    path.write_text(document)
    try:
        steps = [("stack", "init", stack)] + [
            ("config", "set", "--secret", "--stack", stack, f"{NAMESPACE}:{name}", value)
            for name, value in secrets.items()
        ]
        for step in steps:
            result = pulumi(project_dir, *step)
            if result.returncode != 0:
                raise RuntimeError(f"pulumi {step[0]} {step[1]}: {result.stderr.strip()}")
    except BaseException:
        pulumi(project_dir, "stack", "rm", "--yes", "--force", "--stack", stack)
        path.unlink(missing_ok=True)
        raise


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops.new_region", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--pop", required=True, help="the PoP's code, also its stack's name: lax1")
    p.add_argument(
        "--location", required=True, help='a location of the provider: "NA: Los Angeles"'
    )
    p.add_argument("--servers", type=int, default=2, help="how many servers (default 2)")
    p.add_argument("--name", help="a readable name (default: the code in capitals)")
    p.add_argument("--instance-type", help="default: the template's, if offered there")
    p.add_argument(
        "--prefix",
        action="append",
        default=[],
        help="an anycast prefix it announces (repeat); default: the fleet's",
    )
    p.add_argument("--aws-region", help="the AWS region of its latency-steered records")
    p.add_argument(
        "--peak-calls", type=int, help="its expected peak of concurrent calls (sized N+1)"
    )
    p.add_argument("--environment", choices=["production", "staging"])
    p.add_argument("--like", help="the PoP it is modelled on (default: the first production one)")
    p.add_argument("--no-preview", action="store_true", help="do not run its preview")
    p.add_argument(
        "--policy-pack",
        action="append",
        default=[],
        help="a policy pack its preview runs (repeat; default: the project's policies/)",
    )
    p.add_argument(
        "--policy-pack-config",
        action="append",
        default=[],
        help="a pack's config, in the packs' order (default: policies/config.json)",
    )
    return p


def policy_flags(packs: list[str], configs: list[str], project_dir: Path) -> list[str]:
    """The preview's policy packs: those given, else the project's pack with its team config,
    so that a new region's first preview is judged as every other preview is."""
    if not packs:
        packs, configs = (
            [str(project_dir / "policies")],
            [str(project_dir / "policies" / "config.json")],
        )
    return [f"--policy-pack={pack}" for pack in packs] + [
        f"--policy-pack-config={config}" for config in configs
    ]


def main(argv: list[str] | None = None, project_dir: Path | None = None) -> int:
    """Runs in the project the command is started from (as `make validate` does)."""
    args = parser().parse_args(argv)
    project_dir = project_dir or Path.cwd()
    region = Region(
        pop=args.pop,
        location=args.location,
        servers=args.servers,
        name=args.name,
        instance_type=args.instance_type,
        prefixes=tuple(args.prefix),
        aws_region=args.aws_region,
        environment=args.environment,
        peak_calls=args.peak_calls,
    )
    try:
        template, raw = template_of(project_dir, args.like)
        pop = scaffold(region, raw)
        errors = check_new_pop(pop, args.pop, project_dir)
    except SpecInvalid as invalid:
        errors = invalid.errors
    if errors:
        print(f"new-region {args.pop}: nothing created; {len(errors)} error(s):", file=sys.stderr)
        for error in errors:
            print(f"  {error.render()}", file=sys.stderr)
        return 2
    if not (
        os.environ.get("PULUMI_CONFIG_PASSPHRASE")
        or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    ):
        print(
            "new-region: the team's PULUMI_CONFIG_PASSPHRASE (or _FILE) is needed", file=sys.stderr
        )
        return 2
    try:
        secrets = template_secrets(project_dir, template, secret_names(pop))
        create_stack(project_dir, args.pop, stack_document(pop, template), secrets)
    except RuntimeError as error:
        print(f"new-region {args.pop}: nothing created: {error}", file=sys.stderr)
        return 1
    print(f"Pulumi.{args.pop}.yaml written and stack {args.pop} initialised (from {template})")
    if args.no_preview:
        return 0
    preview = subprocess.run(
        [
            "tools/stack-env.sh",
            args.pop,
            "pulumi",
            "preview",
            "--stack",
            args.pop,
            "--non-interactive",
            *policy_flags(args.policy_pack, args.policy_pack_config, project_dir),
        ],
        cwd=project_dir,
    )
    return preview.returncode


if __name__ == "__main__":
    sys.exit(main())

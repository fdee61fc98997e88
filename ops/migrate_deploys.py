"""The one-time move of a stack's host deploys from the project's old `vpdeploy` plugin to
pulumi-command (`make migrate-deploys STACK=...`), before the first `pulumi up` with this code:

1. each host is told what its old deploy knew (the deploy that owns it, its SFU digest,
   whether a failed run left it drained, the last repair token), in its own record
   (deploy/record.py), so the new deploy drains it only when its SFU really restarts;
2. the old `vpdeploy:index:HostDeploy` resources and their provider leave the state (one
   `pulumi stack import`), without their delete, which would drain every host at once.

Then `pulumi up` creates each server's Command in its wave: the site deploy (no change on a
host deployed with the same code), the verification and the call, as any deploy. No server
is released or replaced: the servers, DNS records and health checks are not touched. A host
that cannot be reached is named; its new deploy finds it as never deployed (not drained).

Exit status: 0 migrated (or nothing to migrate), 1 an error (the state is left as it was)."""

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deploy.record import HostRecord

OLD_DEPLOY = "vpdeploy:index:HostDeploy"
OLD_PROVIDER = "pulumi:providers:vpdeploy"


class MigrationRefused(Exception):
    pass


@dataclass(frozen=True)
class OldDeploy:
    name: str  # the server's
    host: dict[str, Any]  # its entry, as the old deploy had it
    record: HostRecord
    simulated: bool


def old_deploys(deployment: Mapping[str, Any]) -> list[OldDeploy]:
    """What each old host deploy of the state knew of its host. Pure."""
    found = []
    for resource in deployment.get("resources") or []:
        if resource.get("type") != OLD_DEPLOY:
            continue
        inputs, outputs = resource.get("inputs") or {}, resource.get("outputs") or {}
        host = json.loads(inputs.get("host") or outputs.get("host") or "{}")
        record = HostRecord(
            owner=str(outputs.get("owner") or ""),
            sfu_digest=str(outputs.get("sfu_digest") or inputs.get("sfu_digest") or ""),
            left_drained=bool(outputs.get("left_drained")),
            redeploy_token=str(outputs.get("redeploy") or inputs.get("redeploy") or ""),
        )
        name = str(host.get("name") or resource["urn"].rsplit("::", 1)[1].removesuffix("-deploy"))
        found.append(OldDeploy(name, host, record, bool(inputs.get("simulate"))))
    return found


def without_old_deploys(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment without the old deploys and their provider, and without any reference
    to them (the waves' dependencies between deploys). Pure."""
    if deployment.get("pending_operations"):
        raise MigrationRefused(
            "the state has pending operations (an interrupted update): run `pulumi refresh` "
            "or `pulumi cancel` first, then migrate"
        )
    gone = {
        r["urn"]
        for r in deployment.get("resources") or []
        if r["type"] in (OLD_DEPLOY, OLD_PROVIDER)
    }
    kept = []
    for resource in deployment.get("resources") or []:
        if resource["urn"] in gone:
            continue
        if any(urn in gone for urn in resource.get("dependencies") or []):
            resource = {
                **resource,
                "dependencies": [u for u in resource["dependencies"] if u not in gone],
                "propertyDependencies": {
                    key: [u for u in urns if u not in gone]
                    for key, urns in (resource.get("propertyDependencies") or {}).items()
                },
            }
        kept.append(resource)
    return {**deployment, "resources": kept}


def tell_hosts(deploys: list[OldDeploy], write: Callable[[OldDeploy], str | None]) -> list[str]:
    """Writes each real host's record; the hosts that could not be told (and why)."""
    unreached = []
    for deploy in deploys:
        if deploy.simulated or not deploy.record.owner:
            continue
        failure = write(deploy)
        if failure:
            unreached.append(f"{deploy.name}: {failure}")
    return unreached


def write_record(deploy: OldDeploy) -> str | None:
    from deploy.drain import run_on
    from deploy.record import write_command
    from roles.host import HostEntry

    try:
        status, output = run_on(HostEntry.model_validate(deploy.host), write_command(deploy.record))
    except Exception as error:  # SSH: unreachable, refused, auth
        return str(error)
    return None if status == 0 else output or f"exit {status}"


def migrate(stack: str, dry_run: bool = False) -> int:
    from pulumi import automation as auto

    from ops.engine import stack_environment, with_stack
    from stacks.project import PROJECT_DIR

    env = stack_environment(stack)
    exported = with_stack(stack, PROJECT_DIR, env, lambda s: s.export_stack())
    deployment = exported.deployment or {}
    deploys = old_deploys(deployment)
    if not deploys and not any(
        r["type"] == OLD_PROVIDER for r in deployment.get("resources") or []
    ):
        print(f"{stack}: no vpdeploy host deploy in the state: nothing to migrate")
        return 0
    try:
        migrated = without_old_deploys(deployment)
    except MigrationRefused as refused:
        print(f"{stack}: not migrated: {refused}", file=sys.stderr)
        return 1
    names = ", ".join(d.name for d in deploys)
    if dry_run:
        print(f"{stack}: would migrate the host deploys of {names}")
        return 0
    for line in tell_hosts(deploys, write_record):
        print(f"{stack}: could not record the old deploy on {line}", file=sys.stderr)
    state = auto.Deployment(version=exported.version, deployment=migrated)
    with_stack(stack, PROJECT_DIR, env, lambda s: s.import_stack(state))
    print(
        f"{stack}: the host deploys of {names} left the state; run `pulumi up`: each server's "
        "deploy is created in its wave, drained only where its SFU restarts"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--dry-run", action="store_true", help="say what would move, move nothing")
    args = parser.parse_args(argv)
    return migrate(args.stack, args.dry_run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

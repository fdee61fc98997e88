"""The sandbox's watch: the probing mesh on the sandbox PoP, scraped by a Prometheus holding
the project's alert rules (monitoring/), so the PoP is watched between deploys and
`make scorecard` has figures to read. Two probers: the PoP's own (the prober role on the server
Pulumi.sandbox.yaml's probing.servers names: each server on its own address, judged by the
media gate within the PoP's capacity floor, the servers following its verdicts; a PoP without
one gets one on this machine on the PoP's bridge instead) and one behind the upstream router,
where callers are (an external vantage point: the PoP's service address and its servers). The
second listens in the callers' namespace; socat relays its metrics. Prometheus reads each
server's bird_exporter too.

    python -m sandbox.watch start [--inventory inventories/sandbox.json] [--floor N]
                                  [--other inventories/sandbox2.json ...]
        (--floor: default Pulumi.sandbox.yaml's deploy.min_in_service; --other: the
        sandbox's second PoP, when its inventory exists)
    python -m sandbox.watch stop
    python -m sandbox.watch status

`make up` starts it once the PoP is deployed; `python -m sandbox down` stops it.
"""

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from roles.anycast.defaults import AnycastSettings
from sandbox import callers, processes, settings
from stacks.spec.capacity import capacity_floor
from stacks.spec.loading import parse_pop, read_stack_file

PROBER, EXTERNAL, RELAY, PROMETHEUS = (
    "prober",
    "prober-external",
    "prober-relay",
    "prometheus",
)
DEFAULT = AnycastSettings()  # what an entry that leaves a field out has
RULES = settings.PROJECT_DIR / "monitoring" / "rules" / "voicepop.rules.yml"
# one call of 3 s every 5 s: a server of a two-server PoP is called every ~10 s
LOAD = ("--calls-per-minute", "12", "--call-seconds", "3")


def prober_command(
    inventory: Path, pop: str, listen: str, floor: int | None, load: tuple[str, ...] = LOAD
) -> list[str]:
    """The prober inside the PoP."""
    floor_flags = ["--floor", str(floor)] if floor is not None else []
    return [sys.executable, "-m", "quality", "prober", "--source-pop", pop, "--inventory",
            str(inventory), *load, *floor_flags, "--listen", listen]  # fmt: skip


def external_prober_command(
    inventory: Path,
    namespace: str,
    port: int,
    load: tuple[str, ...] = LOAD,
    others: tuple[Path, ...] = (),
) -> list[str]:
    """The prober behind the upstream router: in the callers' namespace, listening on its
    loopback (reached through `relay_command`); it calls every PoP of `inventory` and
    `others`."""
    inventories = [flag for path in (inventory, *others) for flag in ("--inventory", str(path))]
    return ["ip", "netns", "exec", namespace, sys.executable, "-m", "quality", "prober",
            "--external", "--source-pop", "callers", *inventories, *load,
            "--listen", f"127.0.0.1:{port}"]  # fmt: skip


def relay_command(namespace: str, listen_port: int, target_port: int) -> list[str]:
    """socat: this machine's 127.0.0.1:listen_port to the namespace's 127.0.0.1:target_port."""
    inside = f"ip netns exec {namespace} socat STDIO TCP\\:127.0.0.1\\:{target_port}"
    return ["socat", f"TCP-LISTEN:{listen_port},bind=127.0.0.1,reuseaddr,fork", f"EXEC:{inside}"]


def prometheus_config(
    targets: list[str], interval_s: int = 15, bird: list[str] | None = None
) -> str:
    """The probers' and the servers' bird_exporters (`bird`) as Prometheus's targets.
    Prometheus takes whole units in a duration ("15s", never "15.0s")."""
    return (
        f"global: {{scrape_interval: {interval_s}s, evaluation_interval: {interval_s}s}}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "  - job_name: voicepop-prober\n"
        f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
        "  - job_name: voicepop-bird\n"
        f"    static_configs: [{{targets: {json.dumps(bird or [])}}}]\n"
    )


def role_probers(inventory: Path) -> list[str]:
    """host:port of the PoP's probers the prober role runs (the inventory's entries)."""
    return [
        f"{host['prober']['listen']}:{host['prober']['port']}"
        for host in json.loads(inventory.read_text())
        if host.get("prober")
    ]


def bird_exporters(inventory: Path) -> list[str]:
    """host:port of each announcing server's bird_exporter (the inventory's entries)."""
    return [
        f"{host['address']}:{host['anycast'].get('bird_exporter_port', DEFAULT.bird_exporter_port)}"
        for host in json.loads(inventory.read_text())
        if (host.get("bgp") or {}).get("prefixes")
        and (host.get("anycast") or {}).get("bird_exporter", DEFAULT.bird_exporter)
    ]


def prometheus_command(config: Path, data: Path, listen: str) -> list[str]:
    return ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address={listen}", "--storage.tsdb.retention.time=30d"]  # fmt: skip


def pop_of(inventory: Path) -> str:
    hosts = json.loads(inventory.read_text())
    return str(hosts[0]["pop"])


def sandbox_floor() -> int:
    """The sandbox PoP's capacity floor (its spec's deploy.min_in_service)."""
    stack_file = read_stack_file(settings.PROJECT_DIR / "Pulumi.sandbox.yaml")
    return capacity_floor(parse_pop(stack_file.raw_pop, stack_file.context, stack_file.path.name))


def start(inventory: Path, floor: int | None, others: tuple[Path, ...] = ()) -> None:
    """Starts the watch, or starts it again (a new inventory, a new floor); its Prometheus
    keeps its data. `others`: the inventories of the sandbox's other PoPs (the second's),
    whose probers and bird_exporters it scrapes too and which the external prober calls."""
    if not inventory.exists():
        sys.exit(f"sandbox.watch: {inventory} does not exist: run `make up` first")
    floor = sandbox_floor() if floor is None else floor
    stop()
    relay_port = settings.EXTERNAL_PROBER_PORT + 1000  # in the callers' namespace
    outside = f"127.0.0.1:{settings.EXTERNAL_PROBER_PORT}"
    env = settings.CALLER_ENVIRONMENT
    inside = role_probers(inventory)
    if not inside:  # one on the bridge, where the servers would ask for its verdicts
        inside = [f"{settings.BRIDGE_ADDRESS}:{settings.PROBER_PORT}"]
        processes.start(PROBER, prober_command(inventory, pop_of(inventory), inside[0], floor), env)
    inside += [found for other in others for found in role_probers(other)]
    external = external_prober_command(inventory, callers.NAMESPACE, relay_port, others=others)
    processes.start(EXTERNAL, external, env)
    processes.start(
        RELAY, relay_command(callers.NAMESPACE, settings.EXTERNAL_PROBER_PORT, relay_port)
    )
    folder = settings.STATE_DIR / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    bird = [found for path in (inventory, *others) for found in bird_exporters(path)]
    config.write_text(prometheus_config([*inside, outside], bird=bird))
    processes.start(
        PROMETHEUS, prometheus_command(config, folder / "data", settings.PROMETHEUS_LISTEN)
    )
    print(
        f"sandbox.watch: probers {', '.join(inside)} (inside "
        f"{', '.join(pop_of(path) for path in (inventory, *others))}), {outside} "
        f"(behind the upstream router); Prometheus http://{settings.PROMETHEUS_LISTEN} with "
        f"{RULES.relative_to(settings.PROJECT_DIR)}"
    )


def stop() -> None:
    for name in (PROMETHEUS, RELAY, EXTERNAL, PROBER):
        processes.stop(name)


def status() -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://{settings.PROMETHEUS_LISTEN}/-/ready", timeout=2):
            ready = True
    except OSError:
        ready = False
    return {
        **{name: processes.running_pid(name) for name in (PROBER, EXTERNAL, RELAY, PROMETHEUS)},
        "prometheus_ready": ready,
    }


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m sandbox.watch", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    top.add_argument("action", choices=["start", "stop", "status"])
    top.add_argument("--inventory", type=Path,
                     default=settings.PROJECT_DIR / "inventories" / "sandbox.json")  # fmt: skip
    top.add_argument(
        "--other", type=Path, action="append", default=None,
        help="another PoP's inventory (default: inventories/sandbox2.json, when it exists)",
    )  # fmt: skip
    top.add_argument(
        "--floor", type=int, default=None, help="the PoP's capacity floor (default: its spec's)"
    )
    args = top.parse_args(argv)
    if args.action == "start":
        second = settings.PROJECT_DIR / "inventories" / "sandbox2.json"
        others = args.other if args.other is not None else [second] if second.exists() else []
        start(args.inventory, args.floor, tuple(others))
    elif args.action == "stop":
        stop()
    else:
        print(json.dumps(status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Records the engine's preview events of the sandbox stack, for the comment's tests
(tests/ops/preview/data/*.ndjson): run it on a live sandbox PoP with its deploys (`make up`),
then `python -m tests.ops.preview.record`. Re-record after an engine upgrade. Each scenario is a
change of the sandbox's stack file, previewed as the pull-request preview does."""

import copy
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from ops.preview.run import PreviewOptions, engine_preview, preview_environment
from stacks.project import PROJECT_DIR

DATA = Path(__file__).parent / "data"
Change = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Change:
    """Sets the spec field at a dotted path (list items by index)."""

    def change(pop: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = pop
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)

    return change


def both(*changes: Change) -> Change:
    def change(pop: dict[str, Any]) -> None:
        for each in changes:
            each(pop)

    return change


SCENARIOS: dict[str, Change] = {
    "no-change": both(),
    "tuning-knob": setting("tuning.kernel.udp_rmem_min_bytes", 32_768),
    "server-added": setting("servers.count", 4),
    "server-removed": setting("servers.count", 2),
    "dns-ttl": setting("dns.ttl_s", 60),
    "prefix-withdrawn": setting("bgp.prefixes", [{"prefix": "198.18.10.0/24", "kind": "anycast"}]),
    "bgp-timers": both(
        setting("bgp.neighbors.0.hold_time_s", 30), setting("bgp.neighbors.0.keepalive_s", 10)
    ),
    "firewall-opened": both(
        setting("firewall.extra_tcp_ports", [5060]),
        setting("access.ssh_admin_ranges", ["172.30.203.0/24", "10.20.0.0/16"]),
    ),
    "server-replaced": setting("provider.instance_type", "bm7.std.16"),
    "bad-spec": setting("servers.count", 0),
}
SECRET_SCENARIOS = {"md5-key": ("bgpMd5Upstream", "a-new-key-never-shown")}


def stack_file(change: Change, folder: Path) -> Path:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.sandbox.yaml").read_text())
    change(document["config"]["voicepop:pop"])
    path = folder / "Pulumi.sandbox.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def kept(events: list[str]) -> Iterator[str]:
    """The events, less what only repeats (a step's outputs event repeats its pre event; an
    unchanged resource's states are not read), so that the recordings stay small."""
    for line in events:
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if "resOutputsEvent" in event:
            continue
        metadata = event.get("resourcePreEvent", {}).get("metadata", {})
        if metadata.get("op") == "same":
            metadata["old"] = metadata["new"] = None
        yield json.dumps(event) + "\n"


def record(name: str, config: Path) -> None:
    lines, failure = engine_preview("sandbox", PreviewOptions(config_files={"sandbox": config}))
    (DATA / f"{name}.ndjson").write_text("".join(kept(lines)))
    print(f"{name}: {failure or 'ok'}, {len(lines)} events")


def main() -> int:
    DATA.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, change in SCENARIOS.items():
            record(name, stack_file(change, Path(folder)))
        for name, (key, value) in SECRET_SCENARIOS.items():
            config = stack_file(both(), Path(folder))
            subprocess.run(
                [
                    "tools/stack-env.sh",
                    "sandbox",
                    "pulumi",
                    "config",
                    "set",
                    "--secret",
                    "--config-file",
                    str(config),
                    key,
                    value,
                ],
                cwd=PROJECT_DIR,
                env=preview_environment(),
                check=True,
                capture_output=True,
            )
            record(name, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())

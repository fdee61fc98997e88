"""Benchmark: the sandbox and the servers stack, with the stand-in's delays at zero.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_sandbox.py [HOSTS]
Runs its own sandbox (bridge vpbench0, 172.30.205.0/24, stand-in port 28787) beside any
other, and prints: sandbox up (image cached) and down, `pulumi up` of the 3-server sandbox PoP,
a no-op `pulumi up`, destroy, HOSTS hosts started and stopped through the API, and memory per
host (resident set of the host's processes; shared pages counted once per process).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
ENV = {
    "VOICEPOP_SANDBOX_BRIDGE": "vpbench0",
    "VOICEPOP_SANDBOX_NETWORK": "172.30.205.0/24",
    "VOICEPOP_SANDBOX_STANDIN_PORT": "28787",
    "VOICEPOP_SANDBOX_ROUTE53_PORT": "28788",
    "VOICEPOP_SANDBOX_ACME_MANAGEMENT_PORT": "25000",
    "VOICEPOP_SANDBOX_DNS_PORT": "28053",
    "VOICEPOP_SANDBOX_API_TOKEN": "sandbox-api-token",
}
ENDPOINT = "http://127.0.0.1:28787/v3"


def timed(command: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        ["bash", "-c", f". tools/env.sh && {command}"],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def host_memory_mb() -> list[float]:
    sizes = []
    for cgroup in Path("/sys/fs/cgroup/systemd").glob("vp-*"):
        pids = {int(p) for f in cgroup.rglob("cgroup.procs") for p in f.read_text().split()}
        rss_kb = 0
        for pid in pids:
            status = Path(f"/proc/{pid}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss_kb += int(line.split()[1])
        sizes.append(rss_kb / 1024)
    return sizes


def config_file(folder: Path, deploy: bool = False, **changes: Any) -> Path:
    """The sandbox stack aimed at this benchmark's sandbox; the host deploy off unless asked
    (this benchmark times the servers alone; bench_main_job.py times the deploy too)."""
    import ipaddress

    import yaml

    document = yaml.safe_load((PROJECT / "Pulumi.sandbox.yaml").read_text())
    pop = document["config"]["voicepop:pop"]
    network = ipaddress.ip_network(ENV["VOICEPOP_SANDBOX_NETWORK"])
    pop["provider"]["api_endpoint"] = ENDPOINT
    pop["access"]["ssh_admin_ranges"] = [str(network)]
    pop["access"]["ssh_public_keys"] = [f"file:{folder}/sandbox/ssh/id_ed25519.pub"]
    pop["dns"]["api_endpoint"] = f"http://127.0.0.1:{ENV['VOICEPOP_SANDBOX_ROUTE53_PORT']}"
    for neighbor in pop["bgp"]["neighbors"]:
        neighbor["peer_address"] = str(list(network.hosts())[1])  # the upstream router
    pop["base"]["log_collector"] = f"{next(network.hosts())}:6514"  # the sandbox's collector
    pop["deploy"] = {"enabled": deploy, "ssh_private_key": f"{folder}/sandbox/ssh/id_ed25519"}
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = pop
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    path = folder / "Pulumi.sandbox.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def hosts_through_the_api(count: int, key: str) -> dict[str, Any]:
    sys.path.insert(0, str(PROJECT))
    from plugins.flexmetal.client import FlexMetalClient, RetryPolicy

    client = FlexMetalClient(ENDPOINT, ENV["VOICEPOP_SANDBOX_API_TOKEN"], RetryPolicy(30.0))
    started = time.perf_counter()
    servers = [
        client.create_server(
            {
                "name": f"bench{i}",
                "location": "EU: Rotterdam",
                "instanceType": "bm7.std.8",
                "os": {"slug": "debian-12"},
                "sshKey": [key],
            }
        )
        for i in range(count)
    ]
    while any(client.get_server(s["uuid"])["status"] != "delivered" for s in servers):
        time.sleep(0.05)
    delivered = time.perf_counter() - started
    memory = host_memory_mb()
    started = time.perf_counter()
    for server in servers:
        client.release_server(server["uuid"])
    while any(client.get_server(s["uuid"])["status"] != "released" for s in servers):
        time.sleep(0.05)
    return {"start_s": delivered, "stop_s": time.perf_counter() - started, "memory_mb": memory}


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "backend").mkdir()
        env = {
            **ENV,
            "VOICEPOP_SANDBOX_DIR": str(folder / "sandbox"),
            "PULUMI_BACKEND_URL": (folder / "backend").as_uri(),
        }
        results: dict[str, Any] = {"sandbox_up_s": timed("python -m sandbox up", env)}
        admin = f"python -m sandbox.flexmetal --endpoint {ENDPOINT.removesuffix('/v3')}"
        timed(f"{admin} settings step_delay_s=0 release_delay_s=0", env)
        config = config_file(folder)
        pulumi = f"tools/stack-env.sh sandbox pulumi --non-interactive --config-file {config}"
        results["pulumi_up_3_servers_s"] = timed(f"{pulumi} up --yes --skip-preview", env)
        results["memory_per_host_mb"] = [round(m, 1) for m in host_memory_mb()]
        results["pulumi_up_no_op_s"] = timed(f"{pulumi} up --yes --skip-preview", env)
        results["pulumi_destroy_s"] = timed(f"{pulumi} destroy --yes --skip-preview", env)
        key = (folder / "sandbox/ssh/id_ed25519.pub").read_text().strip()
        through_api = hosts_through_the_api(hosts, key)
        results[f"{hosts}_hosts_start_to_ssh_s"] = round(through_api["start_s"], 2)
        results[f"{hosts}_hosts_stop_s"] = round(through_api["stop_s"], 2)
        results["sandbox_down_s"] = timed("python -m sandbox down", env)
    print(
        json.dumps(
            {k: round(v, 2) if isinstance(v, float) else v for k, v in results.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()

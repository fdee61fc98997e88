"""Benchmark: the main job, `pulumi up` of the sandbox PoP with the host deploy, as `make up`
runs it (the stand-in's default delivery delays), and the sandbox's scale on this machine.

Usage (as root, after `make setup`): .venv/bin/python bench/bench_main_job.py [SCALE]
Runs its own sandbox (bridge vpbench0, 172.30.205.0/24) beside any other and prints: sandbox
up; `pulumi up` of 3 servers (delivered, deployed, verified); a no-op `pulumi up`; one tuning
knob; one server added; one removed (drained first); then SCALE servers at once (default 8)
with memory per host and the machine's available memory; destroy; sandbox down.
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sandbox import ENV, config_file, host_memory_mb, timed


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    knob = {"tuning__kernel__udp_rmem_min_bytes": 32_768}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "backend").mkdir()
        env = {
            **ENV,
            "VOICEPOP_SANDBOX_DIR": str(folder / "sandbox"),
            "VOICEPOP_DEPLOY_LOG_DIR": str(folder / "deploy-logs"),
            "PULUMI_BACKEND_URL": (folder / "backend").as_uri(),
        }
        free_before = available_mb()
        results: dict[str, Any] = {"sandbox_up_s": timed("python -m sandbox up", env)}

        def up(**changes: Any) -> float:
            config = config_file(folder, deploy=True, **changes)
            return timed(
                f"tools/stack-env.sh sandbox pulumi --non-interactive --config-file "
                f"{config} up --yes --skip-preview",
                env,
            )

        results["up_3_servers_deployed_verified_s"] = up()
        results["up_no_op_s"] = up()
        results["up_one_tuning_knob_s"] = up(**knob)
        results["up_add_one_server_s"] = up(servers__count=4, **knob)
        results["up_remove_one_server_s"] = up(servers__count=3, **knob)
        results[f"up_3_to_{scale}_servers_s"] = up(servers__count=scale, **knob)
        memory = host_memory_mb()
        results["memory_per_host_mb"] = [round(m) for m in sorted(memory)]
        results[f"machine_memory_used_by_{scale}_hosts_and_sandbox_mb"] = round(
            free_before - available_mb()
        )
        results["destroy_s"] = timed(
            f"tools/stack-env.sh sandbox pulumi --non-interactive --config-file "
            f"{config_file(folder, deploy=True)} destroy --yes --skip-preview",
            env,
        )
        results["sandbox_down_s"] = timed("python -m sandbox down", env)
    print(
        json.dumps(
            {k: round(v, 1) if isinstance(v, float) else v for k, v in results.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()

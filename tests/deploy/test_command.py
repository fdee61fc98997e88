"""The deploy command as the Command runs it: a real process of the launcher, started from the
program's folder as the engine starts it, with the environment the program gives it."""

import json
import os
import subprocess
from pathlib import Path

from stacks.project import PROJECT_DIR
from stacks.resources import host_deploy as contract

ENVIRONMENT = {
    contract.HOST: json.dumps({"name": "sbx1-sfu01", "address": "192.0.2.11"}),
    contract.TRIGGER: "t1",
    contract.SFU_DIGEST: "s1",
    contract.SETTLE_S: "60",
    contract.TIMEOUT_S: "1800",
    contract.SIMULATE: "1",
    contract.SECRET_PREFIX + "bgpMd5": "a-secret-key",
}


def run(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        contract.CREATE.replace(" up", f" {action}").split(),
        cwd=PROJECT_DIR / "stacks",  # the program's folder: where the engine starts plugins
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_run_prints_its_figures_as_json_and_no_secret() -> None:
    done = run("up", ENVIRONMENT)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["trigger"] == "t1" and figures["sfu_digest"] == "s1"
    assert len(figures["owner"]) == 32
    assert "a-secret-key" not in done.stdout + done.stderr
    again = run("up", {**ENVIRONMENT, "PULUMI_COMMAND_STDOUT": done.stdout})
    assert json.loads(again.stdout)["owner"] == figures["owner"], "an update keeps its owner"


def test_a_missing_variable_is_named_before_anything_runs() -> None:
    env = {k: v for k, v in ENVIRONMENT.items() if k != contract.TRIGGER}
    done = run("up", {**env, contract.TRIGGER: ""})
    assert done.returncode == 1
    assert contract.TRIGGER in done.stderr and done.stdout == ""


def test_leaving_a_simulated_host_touches_nothing() -> None:
    done = run("leave", ENVIRONMENT)
    assert done.returncode == 0 and "simulated" in done.stderr


def test_the_launcher_is_where_the_command_names_it() -> None:
    launcher = (PROJECT_DIR / "stacks" / contract.LAUNCHER).resolve()
    assert launcher == PROJECT_DIR / "deploy/bin/host-deploy"
    assert os.access(Path(launcher), os.X_OK)

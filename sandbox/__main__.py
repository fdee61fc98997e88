"""Start and stop the sandbox: the provider stand-in, the package proxy, the host network, and
the hosts the stand-in delivered.

    python -m sandbox up        # idempotent; builds the host image the first time (~1 min)
    python -m sandbox down      # stops everything, unmounts, removes the bridge and cgroups
    python -m sandbox status
    python -m sandbox restart-standin   # a stand-in restart mid-run: its state is kept
    python -m sandbox sweep     # stops a sandbox left on this bridge by a test run that died

`up` refuses to start beside another sandbox on the same bridge, or beside any process on its
ports, and says which and how to stop it (sandbox/claims.py).

`down` also forgets the stand-in's servers: their hosts are gone, as after an account reset.
Destroy the sandbox stack first (`make down` does) or refresh it afterwards.
"""

import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

from sandbox import acme, callers, claims, processes, settings, upstream, watch
from sandbox.hosts import aptproxy, network
from sandbox.hosts.image import ensure_image
from sandbox.hosts.tiers import sandbox_hosts
from sandbox.ssh import ensure_ssh_key

REQUIRED_COMMANDS = ("systemd-nspawn", "debootstrap", "/usr/sbin/apt-cacher-ng", "ssh-keygen")
STANDIN = "flexmetal-standin"
ROUTE53 = "route53-moto"
APT_PROXY = "apt-cacher-ng"
COLLECTOR = "log-collector"


def require_machine() -> None:
    if os.geteuid() != 0:
        sys.exit("sandbox: needs root (network bridge, mounts, containers)")
    missing = [c for c in REQUIRED_COMMANDS if shutil.which(c) is None]
    if missing:
        sys.exit(f"sandbox: missing {', '.join(missing)}: run `make setup`")


def standin_endpoint() -> str:
    return f"http://{settings.STANDIN_LISTEN}"


def standin_healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{standin_endpoint()}/_standin/health", timeout=1) as answer:
            return bool(json.loads(answer.read()).get("ok"))
    except OSError:
        return False


def start_standin() -> None:
    processes.start(
        STANDIN,
        [
            sys.executable,
            "-m",
            "sandbox.flexmetal",
            "serve",
            "--state",
            str(settings.STANDIN_STATE),
            "--listen",
            settings.STANDIN_LISTEN,
            "--hosts",
            "sandbox",
        ],
        env={"FLEXMETAL_TOKEN": settings.API_TOKEN},
    )
    deadline = time.monotonic() + 30
    while not standin_healthy():
        if processes.running_pid(STANDIN) is None or time.monotonic() > deadline:
            log = settings.LOGS_DIR / f"{STANDIN}.log"
            sys.exit(f"sandbox: the stand-in did not come up; see {log}")
        time.sleep(0.1)


def route53_healthy() -> bool:
    try:
        with urllib.request.urlopen(f"http://{settings.ROUTE53_LISTEN}/moto-api/", timeout=1):
            return True
    except OSError:
        return False


def start_route53() -> None:
    host, port = settings.ROUTE53_LISTEN.rsplit(":", 1)
    moto = str(Path(sys.executable).with_name("moto_server"))
    processes.start(ROUTE53, [moto, "-H", host, "-p", port])
    deadline = time.monotonic() + 30
    while not route53_healthy():
        if processes.running_pid(ROUTE53) is None or time.monotonic() > deadline:
            sys.exit(f"sandbox: Route 53 (moto) did not come up; see {settings.LOGS_DIR}")
        time.sleep(0.1)


def start_collector() -> None:
    command = [
        sys.executable,
        "-m",
        "sandbox.collector",
        settings.BRIDGE_ADDRESS,
        str(settings.COLLECTOR_PORT),
        str(settings.COLLECTED_LOG),
    ]
    processes.start(COLLECTOR, command)


def claim_the_bridge() -> None:
    # our relay of Route 53 onto the bridge holds Route 53's port number too: started anew
    processes.stop(acme.RELAY)
    claim = claims.current_claim()
    problems = claims.conflicts(
        claim,
        ours={
            settings.STANDIN_LISTEN: processes.running_pid(STANDIN),
            settings.ROUTE53_LISTEN: processes.running_pid(ROUTE53),
        },
    )
    if problems:
        sys.exit("sandbox: cannot start:\n  " + "\n  ".join(problems))
    claims.write_claim(claim)


def up() -> None:
    require_machine()
    started = time.monotonic()
    claim_the_bridge()
    ensure_ssh_key()
    settings.LOGS_DIR.mkdir(parents=True, exist_ok=True)
    print("sandbox: host image ...", flush=True)
    ensure_image(settings.LOGS_DIR / "image.log")
    network.ensure_bridge()
    conf = settings.STATE_DIR / "apt-cacher-ng"
    aptproxy.write_config(conf)
    processes.start(APT_PROXY, aptproxy.command(conf))
    start_collector()
    upstream.start()
    callers.start()
    start_route53()
    acme.start()
    start_standin()
    print(
        f"sandbox: up in {time.monotonic() - started:.1f} s\n"
        f"  provider stand-in  {standin_endpoint()}/v3\n"
        f"  Route 53 (moto)    http://{settings.ROUTE53_LISTEN}, {settings.ROUTE53_ON_BRIDGE}\n"
        f"  ACME CA (pebble)   {settings.ACME_DIRECTORY}, trusted: {settings.ACME_TRUST}\n"
        f"  hosts              on {settings.BRIDGE} ({settings.NETWORK})\n"
        f"  package proxy      {settings.BRIDGE_ADDRESS}:{settings.APT_PROXY_PORT}\n"
        f"  log collector      {settings.COLLECTOR}, into {settings.COLLECTED_LOG}\n"
        f"  upstream router    AS{settings.UPSTREAM_ASN} at {settings.UPSTREAM_ADDRESS}\n"
        f"  callers            {callers.CALLER}, namespace {callers.NAMESPACE}"
    )


def down() -> None:
    started = time.monotonic()
    watch.stop()
    processes.stop(STANDIN)
    sandbox_hosts().stop_all()
    processes.stop(APT_PROXY)
    processes.stop(COLLECTOR)
    acme.stop()
    processes.stop(ROUTE53)
    callers.stop()
    upstream.stop()
    network.remove_bridge()
    settings.STANDIN_STATE.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        settings.STANDIN_STATE.with_name(settings.STANDIN_STATE.name + suffix).unlink(
            missing_ok=True
        )
    claims.release_claim(settings.BRIDGE)
    print(f"sandbox: down in {time.monotonic() - started:.1f} s")


def status() -> None:
    hosts = sandbox_hosts()
    print(
        json.dumps(
            {
                "standin": {"pid": processes.running_pid(STANDIN), "healthy": standin_healthy()},
                "apt_proxy": {"pid": processes.running_pid(APT_PROXY)},
                "log_collector": {"pid": processes.running_pid(COLLECTOR)},
                "route53": {"pid": processes.running_pid(ROUTE53), "healthy": route53_healthy()},
                "acme_ca": {
                    "pid": processes.running_pid(acme.PEBBLE),
                    "directory": settings.ACME_DIRECTORY,
                },
                "bridge": network.bridge_exists(),
                "upstream_router": {
                    "pid": processes.running_pid(upstream.PROCESS),
                    "established": upstream.established_peers(),
                },
                "hosts": hosts.running(),
                "watch": watch.status(),
            },
            indent=2,
        )
    )


def sweep() -> None:
    for swept in claims.sweep():
        print(f"sandbox: stopped the orphaned sandbox in {swept.state_dir}")


def main(argv: list[str]) -> None:
    commands = {"up": up, "down": down, "status": status, "sweep": sweep}
    if argv == ["restart-standin"]:
        processes.stop(STANDIN)
        start_standin()
        return
    if len(argv) != 1 or argv[0] not in commands:
        sys.exit(__doc__)
    commands[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])

"""The test hosts' root file system: a minimal Debian built with debootstrap, cached outside
the work tree and keyed by its recipe, shared read-only by every host (overlayfs). Upgraded from
the security archive when built: a fresh host has no update pending, so each of the suite's
many first deploys does not install the same ones again (the step that installs them is proved
on a host whose package a test set back: tests/roles/test_site_deploy.py)."""

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sandbox import settings

SUITE = "bookworm"
PACKAGES = (
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "iproute2",
    "ethtool",
    "procps",
    "kmod",
    "ca-certificates",
    "nftables",
    "sudo",
)

NET_UNIT = """\
[Unit]
Description=Sandbox host address (containers have no udev, so no networkd)
Before=ssh.service network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/voicepop/net.env
ExecStart=/sbin/ip link set ${IFACE} up
ExecStart=/sbin/ip addr replace ${ADDRESS}/${PREFIX_LENGTH} dev ${IFACE}

[Install]
WantedBy=multi-user.target
"""

POST_INSTALL_UNIT = """\
[Unit]
Description=The provider's post-install script, once
After=voicepop-net.service
ConditionPathExists=/root/post-install.sh

[Service]
Type=oneshot
ExecStart=/bin/sh /root/post-install.sh
ExecStartPost=/bin/mv /root/post-install.sh /root/post-install.sh.done

[Install]
WantedBy=multi-user.target
"""

SSHD_CONFIG = """\
# As delivered by the provider: root by key only. The base role hardens it further.
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""

# Units that cannot work in a container or only slow its boot.
MASKED_UNITS = (
    "console-getty.service",
    "getty@tty1.service",
    "systemd-networkd-wait-online.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_reap.service",
)


def debian_mirror() -> str:
    """The Debian mirror this machine's own apt uses (never written into the repository)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            fields = line.split()
            if fields[:1] == ["deb"] and fields[-2:-1] != ["security"]:
                return fields[1]
    raise RuntimeError("no Debian mirror in this machine's apt sources")


APT_PROXY_CONF = "etc/apt/apt.conf.d/01sandbox-proxy"


def apt_proxy_conf() -> str:
    """The package proxy of the sandbox a host runs in: written per host at its start, never
    into the shared image (sandboxes beside each other have different bridges)."""
    return f'Acquire::http::Proxy "http://{settings.BRIDGE_ADDRESS}:{settings.APT_PROXY_PORT}";\n'


def recipe() -> str:
    # v3: upgraded at build
    parts = [SUITE, *PACKAGES, NET_UNIT, POST_INSTALL_UNIT, SSHD_CONFIG, *MASKED_UNITS, "v3"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def image_dir() -> Path:
    return settings.CACHE_DIR / "host-image" / f"{SUITE}-{recipe()}"


def ensure_image(log: Path) -> Path:
    """The root file system, built once per recipe (about a minute)."""
    final = image_dir()
    rootfs = final / "rootfs"
    with build_lock(final):
        if not (final / ".complete").is_file():
            _build_image(final, log)
    return rootfs


@contextlib.contextmanager
def build_lock(final: Path) -> Iterator[None]:
    """One build of an image at a time, however many sandboxes ask for it at once (`make
    test`'s two workers): the others wait, then find it built."""
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / ".lock").open("w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


def _build_image(final: Path, log: Path) -> None:
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    mirror = debian_mirror()
    with log.open("ab") as out:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(staging / "rootfs"),
                mirror,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    _customise(staging / "rootfs", mirror)
    with log.open("ab") as out, chroot_mounts(staging / "rootfs"):
        apt_in_root(staging / "rootfs", out, "update", "-qq")
        apt_in_root(staging / "rootfs", out, "upgrade", "-y", "-qq")
        apt_in_root(staging / "rootfs", out, "clean")
    (staging / ".complete").touch()
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    prune_other_builds(final)


def prune_other_builds(kept: Path) -> None:
    """Removes builds of older recipes beside `kept`, so the cache stays one image large."""
    for other in kept.parent.iterdir():
        if other != kept and other.is_dir() and not other.name.endswith(".partial"):
            shutil.rmtree(other, ignore_errors=True)


def _customise(rootfs: Path, mirror: str) -> None:
    systemd = rootfs / "etc/systemd/system"
    (systemd / "voicepop-net.service").write_text(NET_UNIT)
    (systemd / "voicepop-post-install.service").write_text(POST_INSTALL_UNIT)
    wants = systemd / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    for unit in ("voicepop-net.service", "voicepop-post-install.service"):
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    for unit in MASKED_UNITS:
        masked = systemd / unit
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")
    (rootfs / "etc/ssh/sshd_config.d/10-sandbox.conf").write_text(SSHD_CONFIG)
    for host_key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        host_key.unlink()  # each host makes its own at start
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n"
        f"deb {mirror.replace('/debian', '/debian-security')} {SUITE}-security main\n"
    )
    (rootfs / "etc/apt/sources.list.d").mkdir(exist_ok=True)
    (rootfs / "etc/voicepop").mkdir(exist_ok=True)
    (rootfs / "etc/machine-id").write_text("")


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys and /dev in `root` for apt and its maintainer scripts, and no service that
    a package ships started in the chroot."""
    mounts = [("proc", root / "proc"), ("sysfs", root / "sys"), ("/dev", root / "dev")]
    no_services = root / "usr/sbin/policy-rc.d"
    no_services.write_text("#!/bin/sh\nexit 101\n")
    no_services.chmod(0o755)
    try:
        for source, target in mounts:
            kind = ["--bind"] if source.startswith("/") else ["-t", source]
            subprocess.run(["mount", *kind, source, str(target)], check=True)
        yield
    finally:
        no_services.unlink()
        for _, target in reversed(mounts):
            subprocess.run(["umount", "-l", str(target)], check=False)


def apt_in_root(root: Path, out: BinaryIO, *args: str) -> None:
    """apt-get in the image's root, from this machine's mirror (not the sandbox's proxy)."""
    subprocess.run(
        [
            "chroot",
            str(root),
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            "-o",
            "Acquire::http::Proxy=false",
            *args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        check=True,
    )

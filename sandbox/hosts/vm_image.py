"""The virtual-machine tier's disk image: the container hosts' root plus a Debian kernel, a
small initramfs and the packages the site deploy installs (roles/packages.py), as a qcow2 base
every VM overlays. Built once per recipe, cached outside the work tree. With the packages baked
in, a deploy on a VM only configures: package installs under emulation took minutes, and how
many depended on the machine (the container hosts still prove the installs); so do the roles'
Python tools, each in its venv as its role installs it (3 min more on a VM: most of it venv's
own pip, compiled under emulation). For the same reason the image is upgraded when built (as
the container hosts' is), so the base role's security updates at deploy find nothing pending
there.

A VM gets what a container gets written into its overlay (keys, hostname, address) from a
small ext4 "config drive" instead, read at boot by voicepop-config.service: this machine's
kernel has no loadable modules, so no nbd to write into a qcow2 before boot.
"""

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from roles.base.files import LISTS_STAMP
from roles.packages import site_packages, site_python_tools
from roles.python_tools import PythonTool
from roles.wheels import wheelhouse
from sandbox import settings
from sandbox.hosts.image import (
    apt_in_root,
    build_lock,
    chroot_mounts,
    ensure_image,
    prune_other_builds,
)
from sandbox.hosts.image import recipe as container_recipe

DISK_SIZE = "3G"
KERNEL_PACKAGES = ("linux-image-amd64", "initramfs-tools")
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "ext4")

CONFIG_UNIT = """\
[Unit]
Description=Sandbox VM: apply the config drive (keys, hostname, address, host keys)
DefaultDependencies=no
After=local-fs.target
Before=voicepop-net.service ssh.service voicepop-post-install.service
ConditionPathExists=/dev/vdb

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/voicepop-apply-config

[Install]
WantedBy=multi-user.target
"""

APPLY_CONFIG = """\
#!/bin/sh
# Copies the config drive's files into place; runs once per boot, before the network and SSH.
set -eu
mkdir -p /run/voicepop-config
mount -o ro /dev/vdb /run/voicepop-config
cp -a /run/voicepop-config/root/. /
umount /run/voicepop-config
hostname "$(cat /etc/hostname)"
chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys
ssh-keygen -A
"""


@dataclass(frozen=True)
class VmImage:
    disk: Path  # qcow2 base, read-only
    kernel: Path
    initrd: Path


def recipe() -> str:
    parts = [
        container_recipe(),
        *KERNEL_PACKAGES,
        *site_packages(),
        *(tool_recipe(tool) for tool in site_python_tools()),
        *INITRAMFS_MODULES,
        CONFIG_UNIT,
        APPLY_CONFIG,
        DISK_SIZE,
        "v3",  # v2: upgraded at build; v3: the base role's lists stamp touched at build
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def tool_recipe(tool: PythonTool) -> str:
    return "\n".join([*tool.install_commands("wheels"), tool.requirements.read_text()])


def image_dir() -> Path:
    return settings.CACHE_DIR / "vm-image" / recipe()


def ensure_vm_image(log: Path) -> VmImage:
    final = image_dir()
    image = VmImage(final / "base.qcow2", final / "vmlinuz", final / "initrd.img")
    with build_lock(final):
        if not (final / ".complete").is_file():
            _build_vm_image(final, log)
    return image


def _build_vm_image(final: Path, log: Path) -> None:
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    root = staging / "rootfs"
    with log.open("ab") as out:
        subprocess.run(["cp", "-a", str(ensure_image(log)), str(root)], check=True)
        _install_packages(root, out)
        for tool in site_python_tools():
            _install_python_tool(root, tool, out)
        _customise(root)
        kernel = sorted((root / "boot").glob("vmlinuz-*"))[-1]
        initrd = sorted((root / "boot").glob("initrd.img-*"))[-1]
        shutil.copy(kernel, staging / "vmlinuz")
        shutil.copy(initrd, staging / "initrd.img")
        raw = staging / "base.raw"
        subprocess.run(
            ["mkfs.ext4", "-q", "-L", "vproot", "-d", str(root), str(raw), DISK_SIZE],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
        base = staging / "base.qcow2"
        subprocess.run(
            ["qemu-img", "convert", "-O", "qcow2", str(raw), str(base)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    raw.unlink()
    shutil.rmtree(root)
    (staging / ".complete").touch()
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    prune_other_builds(final)


def _install_packages(root: Path, out: BinaryIO) -> None:
    initramfs = root / "etc/initramfs-tools"
    initramfs.mkdir(parents=True, exist_ok=True)
    (initramfs / "conf.d").mkdir(exist_ok=True)
    (initramfs / "conf.d/voicepop").write_text("MODULES=list\n")
    (initramfs / "modules").write_text("".join(f"{m}\n" for m in INITRAMFS_MODULES))
    with chroot_mounts(root):
        apt_in_root(root, out, "update", "-qq")
        packages = [*KERNEL_PACKAGES, *site_packages()]
        apt_in_root(root, out, "install", "-y", "-qq", "--no-install-recommends", *packages)
        apt_in_root(root, out, "upgrade", "-y", "-qq")
        apt_in_root(root, out, "clean")
    # the lists are as fresh as the base role asks: a deploy within the hour refreshes none
    stamp = root / LISTS_STAMP.lstrip("/")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def _install_python_tool(root: Path, tool: PythonTool, out: BinaryIO) -> None:
    """The tool in its venv, as its role installs it on a host, from the wheels the role
    would copy there (built on this machine; removed from the image after)."""
    wheels = root / "tmp/voicepop-wheels"
    shutil.copytree(wheelhouse(tool.requirements), wheels)
    try:
        for command in tool.install_commands("/tmp/voicepop-wheels"):
            subprocess.run(
                ["chroot", str(root), "sh", "-c", command],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )
    finally:
        shutil.rmtree(wheels)


def _customise(root: Path) -> None:
    (root / "etc/fstab").write_text("LABEL=vproot / ext4 defaults,noatime 0 1\n")
    systemd = root / "etc/systemd/system"
    (systemd / "voicepop-config.service").write_text(CONFIG_UNIT)
    (systemd / "multi-user.target.wants/voicepop-config.service").symlink_to(
        "/etc/systemd/system/voicepop-config.service"
    )
    script = root / "usr/local/sbin/voicepop-apply-config"
    script.write_text(APPLY_CONFIG)
    script.chmod(0o755)
    # containers mask the serial console; a VM logs its boot there
    (systemd / "console-getty.service").unlink(missing_ok=True)

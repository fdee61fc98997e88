#!/usr/bin/env bash
# Installs the Debian packages the sandbox needs (containers, VMs, image builds, package proxy,
# BGP) and a browser for the HTML reports, when any is missing. Idempotent: a machine that has
# them all only runs dpkg-query.
set -euo pipefail
packages=(systemd-container debootstrap apt-cacher-ng bird2 iproute2 openssh-client
          qemu-system-x86 qemu-utils e2fsprogs
          chromium)  # chromium: headless, to look at the HTML reports the project writes
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-packages: needs root to install: ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# apt-cacher-ng's package starts a system-wide daemon where systemd runs; the sandbox runs
# its own on the bridge instead.
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  systemctl disable --now apt-cacher-ng >/dev/null 2>&1 || true
fi

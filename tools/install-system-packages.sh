#!/usr/bin/env bash
# Installs the Debian packages the sandbox needs (containers, VMs, image builds, package proxy,
# BGP) and a browser for the HTML reports, when any is missing. Idempotent: a machine that has
# them all only runs dpkg-query.
set -euo pipefail
packages=(systemd-container debootstrap apt-cacher-ng bird2 iproute2 openssh-client
          qemu-system-x86 qemu-utils e2fsprogs
          chromium libjs-janus-gateway \
          prometheus socat libnss3-tools iputils-ping lynis)  # chromium: headless, to look at the HTML reports the project writes and,
                       # with Janus's own janus.js (libjs-janus-gateway), to call the SFU;
                       # prometheus: scrapes the call probe's exporter in a test;
                       # socat: Route 53's stand-in on the bridge, for the hosts' ACME
                       # client; libnss3-tools: the browser trusts the sandbox's ACME root;
                       # iputils-ping: the reference the probe's delay figures are checked by;
                       # lynis: the independent audit, copied to a host and run there
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
# apt-cacher-ng's and prometheus's packages start system-wide daemons where systemd runs: the
# sandbox runs its own package proxy on the bridge, and the tests their own Prometheus.
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  systemctl disable --now apt-cacher-ng prometheus >/dev/null 2>&1 || true
fi

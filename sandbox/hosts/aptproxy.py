"""The package proxy the sandbox's hosts install through, as a PoP with an internal mirror
would: Debian's apt-cacher-ng on the bridge, forwarding to this machine's Debian mirror. Its
cache lives outside the work tree, so the bridge's next sandbox installs from it."""

import shutil
from pathlib import Path

from sandbox import settings
from sandbox.hosts.image import debian_mirror

STOCK_CONFIG = Path("/etc/apt-cacher-ng")


def write_config(conf_dir: Path) -> None:
    """A private configuration: the stock remap files, our mirror, our ports and folders."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    for stock in STOCK_CONFIG.glob("backends_*"):
        shutil.copy(stock, conf_dir / stock.name)
    mirror = debian_mirror().rstrip("/")
    (conf_dir / "backends_debian").write_text(f"{mirror}/\n")
    # one cache per bridge: apt-cacher-ng keeps its index to itself, two daemons would not
    # share one cache folder safely (`make test`'s two workers run two sandboxes)
    cache = settings.CACHE_DIR / "apt-cacher-ng" / settings.BRIDGE
    logs = settings.LOGS_DIR / "apt-cacher-ng"
    cache.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    (conf_dir / "acng.conf").write_text(
        f"CacheDir: {cache}\n"
        f"LogDir: {logs}\n"
        "SupportDir: /usr/lib/apt-cacher-ng\n"
        f"Port: {settings.APT_PROXY_PORT}\n"
        f"BindAddress: {settings.BRIDGE_ADDRESS}\n"
        "ForeGround: 1\n"
        "Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian\n"
        "ExThreshold: 4\n"
    )


def command(conf_dir: Path) -> list[str]:
    return ["/usr/sbin/apt-cacher-ng", "-c", str(conf_dir)]

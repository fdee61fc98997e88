"""Every kernel tuning knob with its default: the role's documented interface.

A PoP overrides any of them in `tuning.kernel` of its spec. Values follow LiveKit's published
SFU tuning (see the project's domain notes); units are in the names.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KernelTuning(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rmem_max_bytes: int = Field(25_165_824, ge=212_992, description="net.core.rmem_max")
    wmem_max_bytes: int = Field(25_165_824, ge=212_992, description="net.core.wmem_max")
    rmem_default_bytes: int = Field(
        4_194_304,
        ge=212_992,
        description="net.core.rmem_default: the receive buffer of every UDP socket that does not "
        "ask for one (Janus's and libnice's media sockets do not); the knob that decides whether "
        "a burst of media survives a busy reader (bench/bench_udp_buffers.py: 600-packet bursts "
        "lost 81 % with the kernel's 208 KiB, 10-16 % with 1 MiB, none with 4 MiB)",
    )
    wmem_default_bytes: int = Field(1_048_576, ge=212_992, description="net.core.wmem_default")
    optmem_max_bytes: int = Field(25_165_824, ge=20_480, description="net.core.optmem_max")
    netdev_max_backlog_packets: int = Field(
        65_535, ge=1_000, description="net.core.netdev_max_backlog"
    )
    netdev_budget_packets: int = Field(600, ge=300, description="net.core.netdev_budget")
    somaxconn: int = Field(65_535, ge=128, le=65_535, description="net.core.somaxconn")
    udp_rmem_min_bytes: int = Field(16_384, ge=4_096, description="net.ipv4.udp_rmem_min")
    udp_wmem_min_bytes: int = Field(16_384, ge=4_096, description="net.ipv4.udp_wmem_min")
    file_max: int = Field(2_097_152, ge=65_536, description="fs.file-max")
    ephemeral_port_first: int = Field(
        32_768, ge=1_024, le=65_535, description="net.ipv4.ip_local_port_range, low end"
    )
    ephemeral_port_last: int = Field(
        60_999, ge=1_024, le=65_535, description="net.ipv4.ip_local_port_range, high end"
    )

    # Network hardening. Every key below is per network namespace (net.ipv4.conf.*,
    # net.ipv6.conf.*), so a container host sets it for itself as a dedicated server does.
    accept_redirects: bool = Field(
        False, description="accept ICMP redirects (IPv4 and IPv6): a redirect rewrites routes"
    )
    send_redirects: bool = Field(False, description="send ICMP redirects: an SFU is no router")
    accept_source_route: bool = Field(
        False, description="accept source-routed packets (IPv4 and IPv6)"
    )
    log_martians: bool = Field(True, description="log packets with impossible addresses")
    rp_filter: Literal["off", "strict", "loose"] = Field(
        "loose",
        description="reverse-path filtering. Loose, not strict: with anycast a reply may "
        "leave by another path than the request came in (asymmetric routing), which strict "
        "filtering drops; loose still drops sources no route leads back to",
    )
    kernel_hardening: bool = Field(
        True,
        description="machine-wide kernel hardening (hosts with a kernel of their own): kernel "
        "pointers and the kernel log hidden from users, no magic SysRq, no unprivileged BPF "
        "and a hardened BPF JIT, perf events for root only, protected files in sticky "
        "folders, no core dumps of setuid programs, no line discipline autoload",
    )

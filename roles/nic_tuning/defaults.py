"""Every NIC tuning knob with its default: the role's documented interface.

A PoP overrides any of them in `tuning.nic` of its spec. `None` means "leave it to the NIC":
rings go to the NIC's maximum, channels stay as the driver set them. Coalescing and offloads
change only when configured: at voice packet rates they buy microseconds, not the
milliseconds of jitter that matter.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NicTuning(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    interfaces: tuple[str, ...] | None = Field(
        None, description="None: the interface holding the server's address"
    )
    rx_ring_entries: int | None = Field(None, ge=64, description="None: the NIC's maximum")
    tx_ring_entries: int | None = Field(None, ge=64, description="None: the NIC's maximum")
    combined_channels: int | None = Field(None, ge=1, description="None: as the driver set")
    udp_flow_hash: bool = Field(
        True, description="hash UDP flows (v4 and v6) over src/dst address and port (sdfn)"
    )
    rps: Literal["auto", "off"] = Field(
        "auto",
        description="auto: RPS over the NIC's NUMA node when it has fewer receive queues than "
        "that node has CPUs, else off; off: no RPS",
    )
    xps: Literal["auto", "leave"] = Field(
        "auto", description="auto: each CPU of the NIC's node sends on one transmit queue"
    )
    irq_affinity: Literal["spread", "leave"] = Field(
        "spread",
        description="spread: queue N's IRQs on the N-th CPU of the NIC's NUMA node (irqbalance "
        "is stopped: it would move them)",
    )
    rx_coalesce_usecs: int | None = Field(None, ge=0, description="None: leave as is")
    offloads: dict[str, bool] = Field(
        default_factory=dict, description="ethtool -K features to set, e.g. {gro: false}"
    )

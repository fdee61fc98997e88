#!/usr/bin/python3
"""voicepop NIC tuning, run on the host: rings, channels, UDP flow hashing, coalescing,
offloads, RPS/XPS and IRQ affinity of the media interfaces, as a JSON config declares them.

This one file is copied to each host (standard library only) and run by the
voicepop-nic-tuning unit at every boot; the role runs `check` to see whether the live state
drifted and restarts the unit when it did. The verification suites use its parsers and its
plan on state they read themselves.

    tune.py check --config FILE | --config-json JSON   -> JSON {"changes": [...], "skipped": [...]}
    tune.py apply --config FILE                        -> one line per change or skip; exit 1 on
                                                          a failure other than "not supported"

A knob the NIC or host cannot take is skipped with its reason, never silently. What a driver
answers "Operation not supported" to (only learnt by trying: ethtool shows coalescing fields
some drivers then refuse) is recorded in UNSUPPORTED_PATH so a later check does not retry it.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

UNSUPPORTED_PATH = "/var/lib/voicepop/nic-tuning-unsupported.json"
INTERFACE_WAIT_S = 30
FLOW_HASH_FIELDS = "sdfn"  # IP SA, IP DA, L4 bytes 0-1 (src port), L4 bytes 2-3 (dst port)
FLOW_HASH_LINES = {
    "IP SA": "s",
    "IP DA": "d",
    "L4 bytes 0 & 1 [TCP/UDP src port]": "f",
    "L4 bytes 2 & 3 [TCP/UDP dst port]": "n",
}
FEATURE_ALIASES = {
    "gro": "generic-receive-offload",
    "gso": "generic-segmentation-offload",
    "tso": "tcp-segmentation-offload",
    "lro": "large-receive-offload",
    "sg": "scatter-gather",
    "rx": "rx-checksumming",
    "tx": "tx-checksumming",
    "rxvlan": "rx-vlan-offload",
    "txvlan": "tx-vlan-offload",
    "ntuple": "ntuple-filters",
    "rxhash": "receive-hashing",
}
NOT_SUPPORTED = "Operation not supported"
MARKER = "#vp# "


# --- reading the state: one shell script per interface, its output cut into sections --------


def state_script(interface: str) -> str:
    """Prints `#vp# <section> <exit status>` then the section's output, for every section;
    read-only (an audit runs it too)."""
    i = interface
    sections = {
        "driver": f"ethtool -i {i}",
        "rings": f"ethtool -g {i}",
        "channels": f"ethtool -l {i}",
        "udp4_hash": f"ethtool -n {i} rx-flow-hash udp4",
        "udp6_hash": f"ethtool -n {i} rx-flow-hash udp6",
        "coalesce": f"ethtool -c {i}",
        "features": f"ethtool -k {i}",
        "online_cpus": "cat /sys/devices/system/cpu/online",
        "node_cpus": (
            f"d=/sys/class/net/{i}/device; [ -e $d/numa_node ] || d=$d/..; "
            "n=$(cat $d/numa_node 2>/dev/null || echo -1); "
            '[ "$n" -ge 0 ] && cat /sys/devices/system/node/node$n/cpulist'
        ),
        "queues": (
            f"for q in /sys/class/net/{i}/queues/*; do "
            "f=$q/rps_cpus; [ -e $f ] || f=$q/xps_cpus; "
            'w=r; [ -w $f ] && w=w; echo "${q##*/} $(cat $f 2>/dev/null || echo -) $w"; done'
        ),
        "irqs": (
            f"d=/sys/class/net/{i}/device; [ -d $d/msi_irqs ] || d=$d/..; "
            "for n in $(ls $d/msi_irqs 2>/dev/null); do "
            'echo "$n $(cat /proc/irq/$n/smp_affinity_list 2>/dev/null || echo -) '
            "$(awk -v n=$n: '$1 == n {print $NF}' /proc/interrupts)\"; done"
        ),
        "unsupported": f"cat {UNSUPPORTED_PATH} 2>/dev/null || echo '{{}}'",
    }
    return "".join(
        f'out=$( {{ {command} ; }} 2>&1 ); echo "{MARKER}{name} $?"; printf "%s\\n" "$out"; '
        for name, command in sections.items()
    )


@dataclass(frozen=True)
class Section:
    status: int
    text: str

    @property
    def ok(self) -> bool:
        return self.status == 0

    def error(self) -> str:
        return self.text.strip().splitlines()[-1] if self.text.strip() else f"exit {self.status}"


def split_sections(output: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    for chunk in output.split(MARKER)[1:]:
        header, _, body = chunk.partition("\n")
        name, status = header.split()
        sections[name] = Section(int(status), body)
    return sections


def parse_cpu_list(text: str) -> list[int]:
    """ "0-3,8" -> [0, 1, 2, 3, 8]"""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus += range(int(first), int(last or first) + 1)
    return cpus


def parse_mask(text: str) -> int:
    """A sysfs CPU bitmap ("00000000,00000003") as an int."""
    return int(text.strip().replace(",", "") or "0", 16)


def cpus_mask(cpus: list[int]) -> int:
    return sum(1 << cpu for cpu in cpus)


def render_mask(mask: int) -> str:
    """As sysfs takes it: hex, in groups of 32 CPUs separated by commas."""
    digits = format(mask, "x")
    groups = [digits[max(0, end - 8) : end] for end in range(len(digits), 0, -8)]
    return ",".join(reversed(groups))


def parse_ethtool_pairs(text: str, heading: str) -> dict[str, str]:
    """The `Name: value` lines under one heading of `ethtool -g` / `ethtool -l` output."""
    pairs: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if line.strip().endswith(":") and not line.startswith((" ", "\t")):
            inside = line.strip() == heading
            continue
        if inside and ":" in line:
            key, _, value = line.partition(":")
            pairs[key.strip()] = value.strip()
    return pairs


def as_number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def parse_flow_hash(text: str) -> str:
    return "".join(
        FLOW_HASH_LINES[line.strip()]
        for line in text.splitlines()
        if line.strip() in FLOW_HASH_LINES
    )


def parse_features(text: str) -> dict[str, tuple[bool, bool]]:
    """`ethtool -k` -> feature: (on, fixed)."""
    features = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.strip().partition(": ")
        if value:
            features[name] = (value.startswith("on"), "[fixed]" in value)
    return features


def parse_coalesce(text: str) -> dict[str, str]:
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in text.splitlines())
        if value
    }


@dataclass(frozen=True)
class Irq:
    number: int
    name: str
    cpus: list[int]

    @property
    def queue(self) -> int | None:
        """The queue an IRQ serves, from its name ("virtio0-input.1", "eth0-TxRx-1",
        "mlx5_comp1@pci:..."); None for the device's other IRQs (config, async, misc)."""
        name = self.name.split("@")[0]
        if re.search(r"config|async|ctrl|misc|lsc", name, re.IGNORECASE):
            return None
        match = re.search(r"(?:[-._]|comp)(\d+)$", name)  # not "eth0": its link IRQ
        return int(match.group(1)) if match else None


@dataclass
class NicState:
    interface: str
    driver: str
    sections: dict[str, Section]
    rings: dict[str, int | None]  # rx_max, tx_max, rx, tx
    combined_max: int | None
    combined: int | None
    flow_hash: dict[str, str | None]  # udp4/udp6 -> fields, None when not readable
    coalesce: dict[str, str]
    features: dict[str, tuple[bool, bool]]
    cpus: list[int]  # of the NIC's NUMA node, else every online CPU
    queues: dict[str, tuple[int | None, bool]]  # rx-0 -> (mask, writable)
    irqs: list[Irq]
    unsupported: dict[str, str]  # knob -> reason, learnt on an earlier apply

    @property
    def rx_queues(self) -> list[str]:
        return sorted((q for q in self.queues if q.startswith("rx-")), key=queue_index)

    @property
    def tx_queues(self) -> list[str]:
        return sorted((q for q in self.queues if q.startswith("tx-")), key=queue_index)


def queue_index(queue: str) -> int:
    return int(queue.split("-")[1])


def parse_state(interface: str, output: str) -> NicState:
    s = split_sections(output)
    driver = "unknown"
    if s["driver"].ok:
        driver = dict(line.partition(": ")[::2] for line in s["driver"].text.splitlines()).get(
            "driver", "unknown"
        )
    maxima = parse_ethtool_pairs(s["rings"].text, "Pre-set maximums:") if s["rings"].ok else {}
    current = (
        parse_ethtool_pairs(s["rings"].text, "Current hardware settings:") if s["rings"].ok else {}
    )
    channel_max = (
        parse_ethtool_pairs(s["channels"].text, "Pre-set maximums:") if s["channels"].ok else {}
    )
    channels = (
        parse_ethtool_pairs(s["channels"].text, "Current hardware settings:")
        if s["channels"].ok
        else {}
    )
    queues: dict[str, tuple[int | None, bool]] = {}
    for line in filter(None, s["queues"].text.splitlines()):
        name, mask, writable = line.split()
        queues[name] = (None if mask == "-" else parse_mask(mask), writable == "w")
    irqs = []
    for line in filter(None, s["irqs"].text.splitlines()):
        number, affinity, *words = line.split()
        irqs.append(
            Irq(int(number), " ".join(words), [] if affinity == "-" else parse_cpu_list(affinity))
        )
    node_cpus = parse_cpu_list(s["node_cpus"].text) if s["node_cpus"].ok else []
    unsupported = json.loads(s["unsupported"].text or "{}").get(interface, {})
    return NicState(
        interface=interface,
        driver=driver,
        sections=s,
        rings={
            "rx_max": as_number(maxima.get("RX")),
            "tx_max": as_number(maxima.get("TX")),
            "rx": as_number(current.get("RX")),
            "tx": as_number(current.get("TX")),
        },
        combined_max=as_number(channel_max.get("Combined")),
        combined=as_number(channels.get("Combined")),
        flow_hash={
            family: parse_flow_hash(s[f"{family}_hash"].text) if s[f"{family}_hash"].ok else None
            for family in ("udp4", "udp6")
        },
        coalesce=parse_coalesce(s["coalesce"].text) if s["coalesce"].ok else {},
        features=parse_features(s["features"].text) if s["features"].ok else {},
        cpus=node_cpus or parse_cpu_list(s["online_cpus"].text),
        queues=queues,
        irqs=irqs,
        unsupported=unsupported,
    )


# --- the plan: what differs from the config, and what is skipped and why. Pure. -------------


@dataclass(frozen=True)
class Change:
    interface: str
    knob: str
    current: str
    wanted: str
    command: list[str] = field(default_factory=list)  # an ethtool command, or
    write: tuple[str, str] | None = None  # a sysfs/procfs file and its new content


@dataclass(frozen=True)
class Skip:
    interface: str
    knob: str
    reason: str


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def add(self, decision: "Change | Skip") -> None:
        if isinstance(decision, Change):
            self.changes.append(decision)
        else:
            self.skipped.append(decision)

    def extend(self, other: "Plan") -> None:
        self.changes += other.changes
        self.skipped += other.skipped


def plan_queues(config: dict[str, Any], state: NicState) -> Plan:
    """Rings, channels, flow hashing, coalescing, offloads: the NIC's own settings."""
    plan = Plan()
    for knob, change_or_skip in (
        *plan_rings(config, state),
        ("combined_channels", plan_channels(config, state)),
        *plan_flow_hash(config, state),
        ("rx_coalesce_usecs", plan_coalescing(config, state)),
        *plan_offloads(config, state),
    ):
        if knob in state.unsupported and isinstance(change_or_skip, Change):
            plan.add(Skip(state.interface, knob, state.unsupported[knob]))
        elif change_or_skip is not None:
            plan.add(change_or_skip)
    return plan


Decision = Change | Skip | None


def plan_rings(config: dict[str, Any], state: NicState) -> list[tuple[str, Decision]]:
    i = state.interface
    decisions: list[tuple[str, Decision]] = []
    for direction in ("rx", "tx"):
        knob = f"{direction}_ring_entries"
        maximum, current = state.rings[f"{direction}_max"], state.rings[direction]
        if maximum is None or current is None:
            reason = (
                state.sections["rings"].error()
                if not state.sections["rings"].ok
                else ("the NIC reports no size for this ring")
            )
            decisions.append(
                (knob, Skip(i, knob, f"ring sizes not readable ({state.driver}): {reason}"))
            )
            continue
        wanted = config.get(knob) or maximum
        if wanted > maximum:
            decisions.append(
                (
                    knob,
                    Skip(
                        i,
                        knob,
                        f"{wanted} asked, the NIC's maximum is {maximum}: left at {current}",
                    ),
                )
            )
        elif wanted != current:
            decisions.append(
                (
                    knob,
                    Change(
                        i,
                        knob,
                        str(current),
                        str(wanted),
                        ["ethtool", "-G", i, direction, str(wanted)],
                    ),
                )
            )
    return decisions


def plan_channels(config: dict[str, Any], state: NicState) -> Decision:
    wanted = config.get("combined_channels")
    if wanted is None:
        return None
    i = state.interface
    if state.combined_max is None or state.combined is None:
        return Skip(i, "combined_channels", f"{state.driver} has no combined channels")
    if wanted > state.combined_max:
        return Skip(
            i, "combined_channels", f"{wanted} asked, the NIC's maximum is {state.combined_max}"
        )
    if wanted == state.combined:
        return None
    return Change(
        i,
        "combined_channels",
        str(state.combined),
        str(wanted),
        ["ethtool", "-L", i, "combined", str(wanted)],
    )


def plan_flow_hash(config: dict[str, Any], state: NicState) -> list[tuple[str, Decision]]:
    if not config.get("udp_flow_hash", True):
        return []
    decisions: list[tuple[str, Decision]] = []
    for family in ("udp4", "udp6"):
        knob = f"udp_flow_hash.{family}"
        current = state.flow_hash[family]
        if current is None:
            reason = state.sections[f"{family}_hash"].error()
            decisions.append((knob, Skip(state.interface, knob, f"{state.driver}: {reason}")))
        elif current != FLOW_HASH_FIELDS:
            decisions.append(
                (
                    knob,
                    Change(
                        state.interface,
                        knob,
                        current or "none",
                        FLOW_HASH_FIELDS,
                        [
                            "ethtool",
                            "-N",
                            state.interface,
                            "rx-flow-hash",
                            family,
                            FLOW_HASH_FIELDS,
                        ],
                    ),
                )
            )
    return decisions


def plan_coalescing(config: dict[str, Any], state: NicState) -> Decision:
    wanted = config.get("rx_coalesce_usecs")
    if wanted is None:
        return None
    current = state.coalesce.get("rx-usecs")
    if current is None or current == "n/a":
        return Skip(
            state.interface, "rx_coalesce_usecs", f"{state.driver} has no rx-usecs coalescing"
        )
    if current == str(wanted):
        return None
    return Change(
        state.interface,
        "rx_coalesce_usecs",
        current,
        str(wanted),
        ["ethtool", "-C", state.interface, "rx-usecs", str(wanted)],
    )


def plan_offloads(config: dict[str, Any], state: NicState) -> list[tuple[str, Decision]]:
    decisions: list[tuple[str, Decision]] = []
    for name, wanted in sorted(config.get("offloads", {}).items()):
        knob = f"offloads.{name}"
        feature = FEATURE_ALIASES.get(name, name)
        if feature not in state.features:
            decisions.append(
                (knob, Skip(state.interface, knob, f"{state.driver} has no feature {feature}"))
            )
            continue
        on, fixed = state.features[feature]
        if on == wanted:
            continue
        if fixed:
            decisions.append(
                (
                    knob,
                    Skip(
                        state.interface,
                        knob,
                        f"{feature} is fixed {'on' if on else 'off'} by {state.driver}",
                    ),
                )
            )
            continue
        decisions.append(
            (
                knob,
                Change(
                    state.interface,
                    knob,
                    "on" if on else "off",
                    "on" if wanted else "off",
                    ["ethtool", "-K", state.interface, feature, "on" if wanted else "off"],
                ),
            )
        )
    return decisions


def plan_steering(config: dict[str, Any], state: NicState) -> Plan:
    """RPS, XPS and IRQ affinity: which CPUs handle which queue. After the channels are set."""
    plan = Plan()
    plan.extend(plan_rps(config, state))
    plan.extend(plan_xps(config, state))
    plan.extend(plan_irq_affinity(config, state))
    return plan


def sysfs_queue_change(state: NicState, queue: str, knob: str, wanted: int) -> Change | Skip:
    current, writable = state.queues[queue]
    kind = "rps_cpus" if queue.startswith("rx-") else "xps_cpus"
    path = f"/sys/class/net/{state.interface}/queues/{queue}/{kind}"
    if not writable:
        return Skip(
            state.interface,
            knob,
            f"{path} is read-only on this host (a container's "
            "sysfs): the machine's kernel steers its packets",
        )
    return Change(
        state.interface,
        knob,
        format(current or 0, "x"),
        format(wanted, "x"),
        write=(path, render_mask(wanted)),
    )


def plan_queue_masks(state: NicState, kind: str, wanted: dict[str, int]) -> Plan:
    """RPS or XPS (`kind`): each queue's CPU mask as `wanted` says, where it differs."""
    plan = Plan()
    for queue, mask in wanted.items():
        if state.queues[queue][0] != mask:
            plan.add(sysfs_queue_change(state, queue, f"{kind}.{queue}", mask))
    return plan


def plan_rps(config: dict[str, Any], state: NicState) -> Plan:
    spread = config.get("rps", "auto") == "auto" and len(state.rx_queues) < len(state.cpus)
    wanted = cpus_mask(state.cpus) if spread else 0
    return plan_queue_masks(state, "rps", dict.fromkeys(state.rx_queues, wanted))


def xps_masks(queues: int, cpus: list[int]) -> list[int]:
    """CPU number k of the node sends on queue k mod queues."""
    masks = [0] * queues
    for index, cpu in enumerate(cpus):
        masks[index % queues] |= 1 << cpu
    return masks


def plan_xps(config: dict[str, Any], state: NicState) -> Plan:
    plan = Plan()
    if config.get("xps", "auto") != "auto":
        return plan
    queues = state.tx_queues
    if len(queues) < 2:
        plan.skipped.append(Skip(state.interface, "xps", "one transmit queue: nothing to steer"))
        return plan
    masks = xps_masks(len(queues), state.cpus)
    return plan_queue_masks(state, "xps", dict(zip(queues, masks, strict=True)))


def plan_irq_affinity(config: dict[str, Any], state: NicState) -> Plan:
    plan = Plan()
    if config.get("irq_affinity", "spread") != "spread":
        return plan
    queue_irqs = [irq for irq in state.irqs if irq.queue is not None]
    if not queue_irqs:
        plan.skipped.append(
            Skip(
                state.interface,
                "irq_affinity",
                f"no queue IRQs of its own ({state.driver}: a virtual interface, or no MSI-X)",
            )
        )
        return plan
    for irq in queue_irqs:
        wanted = state.cpus[(irq.queue or 0) % len(state.cpus)]
        if irq.cpus == [wanted]:
            continue
        plan.changes.append(
            Change(
                state.interface,
                f"irq_affinity.{irq.number}({irq.name})",
                ",".join(map(str, irq.cpus)) or "-",
                str(wanted),
                write=(f"/proc/irq/{irq.number}/smp_affinity_list", str(wanted)),
            )
        )
    return plan


def plan_all(config: dict[str, Any], state: NicState) -> Plan:
    plan = plan_queues(config, state)
    plan.extend(plan_steering(config, state))
    return plan


# --- I/O on the host -------------------------------------------------------------------------


def read_state(interface: str) -> NicState:
    deadline = time.monotonic() + INTERFACE_WAIT_S
    while not Path(f"/sys/class/net/{interface}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # at boot, the unit may start before the driver made the interface
    result = subprocess.run(
        ["sh", "-c", state_script(interface)], capture_output=True, text=True, check=False
    )
    return parse_state(interface, result.stdout)


def carry_out(change: Change) -> str | None:
    """None when done, else the error."""
    if change.write:
        path, content = change.write
        try:
            Path(path).write_text(content + "\n")
            return None
        except OSError as error:
            return f"{path}: {error.strerror}"
    result = subprocess.run(change.command, capture_output=True, text=True, check=False)
    return (
        None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")
    )


def record_unsupported(interface: str, knob: str, reason: str) -> None:
    path = Path(UNSUPPORTED_PATH)
    known = json.loads(path.read_text()) if path.exists() else {}
    known.setdefault(interface, {})[knob] = reason
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")


def apply_plan(plan: Plan, state: NicState) -> bool:
    ok = True
    for skip in plan.skipped:
        print(f"skipped {skip.interface} {skip.knob}: {skip.reason}")
    for change in plan.changes:
        error = carry_out(change)
        if error is None:
            print(f"changed {change.interface} {change.knob}: {change.current} -> {change.wanted}")
        elif NOT_SUPPORTED in error:
            reason = f"{state.driver} refused it: {error}"
            record_unsupported(change.interface, change.knob, reason)
            print(f"skipped {change.interface} {change.knob}: {reason}")
        else:
            print(f"FAILED {change.interface} {change.knob} -> {change.wanted}: {error}")
            ok = False
    return ok


def apply(config: dict[str, Any]) -> bool:
    ok = True
    for interface in config["interfaces"]:
        state = read_state(interface)
        if not state.sections["driver"].ok:
            print(f"skipped {interface}: no such interface ({state.sections['driver'].error()})")
            continue
        ok &= apply_plan(plan_queues(config, state), state)
        state = read_state(interface)  # the channels decide the queues and IRQs to steer
        ok &= apply_plan(plan_steering(config, state), state)
    return ok


def check(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    plan = Plan()
    for interface in config["interfaces"]:
        state = read_state(interface)
        if not state.sections["driver"].ok:
            plan.skipped.append(Skip(interface, "*", "no such interface"))
            continue
        plan.extend(plan_all(config, state))
    return {
        "changes": [asdict(c) for c in plan.changes],
        "skipped": [asdict(s) for s in plan.skipped],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("check", "apply"))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path)
    source.add_argument("--config-json")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text() if args.config else args.config_json)
    if args.action == "check":
        print(json.dumps(check(config)))
        return 0
    return 0 if apply(config) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

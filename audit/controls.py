"""The catalogue of controls: each verification check (verify) as a control an auditor
reads, with a stable ID, a title, why it matters and its severity. A check without an entry
is a mandatory control under its test name, so nothing the suites check goes unreported."""

from dataclasses import dataclass
from typing import Literal

Severity = Literal["mandatory", "advisory"]
IMPACT = {"mandatory": 1.0, "advisory": 0.5}  # InSpec's impact for the JSON report


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rationale: str
    severity: Severity = "mandatory"


def _c(id_: str, title: str, rationale: str, severity: Severity = "mandatory") -> Control:
    return Control(id_, title, rationale, severity)


CONTROLS: dict[str, Control] = {
    # base
    "test_base.py::test_sshd_runs_with_keys_only": _c(
        "VP-BASE-01",
        "sshd: keys only, no forwarding, bounded auth tries",
        "Passwords and forwarding turn a leaked credential into a foothold or a jump host.",
    ),
    "test_base.py::test_time_sync_runs_with_the_declared_sources": _c(
        "VP-BASE-02",
        "Time is synchronised from the declared sources",
        "RTCP, DTLS certificates and logs across PoPs need one clock.",
    ),
    "test_base.py::test_journald_is_bounded": _c(
        "VP-BASE-03",
        "The journal is bounded in size and age",
        "An unbounded journal fills the disk of a busy SFU.",
        "advisory",
    ),
    "test_base.py::test_security_updates_policy": _c(
        "VP-BASE-04",
        "Unattended upgrades take Debian security updates, without reboots",
        "Security fixes land between deploys; an SFU is drained before any reboot.",
    ),
    "test_hardening.py::test_no_security_update_is_pending": _c(
        "VP-HARD-01",
        "No Debian security update is pending",
        "A server must not go into service with known vulnerabilities fixed upstream.",
    ),
    "test_hardening.py::test_the_apt_timers_are_enabled": _c(
        "VP-HARD-02",
        "The apt timers that fetch and apply updates are enabled",
        "Without them unattended-upgrades never runs.",
    ),
    "test_hardening.py::test_no_service_runs_replaced_libraries": _c(
        "VP-HARD-03",
        "No service runs replaced (upgraded) libraries (dbus: at the next reboot)",
        "An upgrade fixes nothing until the processes using the old library restart.",
    ),
    "test_hardening.py::test_core_dumps_are_off": _c(
        "VP-HARD-04",
        "Core dumps are off",
        "A Janus core dump holds DTLS keys and call media.",
    ),
    "test_hardening.py::test_unused_kernel_protocols_are_unloadable": _c(
        "VP-HARD-05",
        "Unused kernel protocols (dccp, sctp, rds, tipc) cannot be loaded",
        "Rarely used protocol modules are a recurring source of kernel vulnerabilities.",
    ),
    "test_hardening.py::test_network_facing_services_run_sandboxed": _c(
        "VP-HARD-06",
        "Janus, BIRD and the healthchecker run in their systemd sandboxes",
        "They parse untrusted packets; a compromise must stay inside the service.",
    ),
    # kernel
    "test_kernel_tuning.py::test_every_declared_sysctl_is_in_force": _c(
        "VP-KERN-01",
        "Every declared sysctl is in force (tuning and network hardening)",
        "UDP buffers carry the media; redirects, source routing and martians are refused.",
    ),
    "test_kernel_tuning.py::test_the_dropin_persists_the_tuning_across_reboots": _c(
        "VP-KERN-02",
        "The sysctl drop-in persists the tuning across reboots",
        "A rebooted server must come back tuned and hardened.",
    ),
    # NIC
    "test_nic_tuning.py::test_rings_are_as_declared_or_at_the_nics_maximum": _c(
        "VP-NIC-01", "NIC rings as declared", "Small rings drop media bursts.", "advisory"
    ),
    "test_nic_tuning.py::test_channels_are_as_declared": _c(
        "VP-NIC-02", "NIC channels as declared", "Queues spread media over CPUs.", "advisory"
    ),
    "test_nic_tuning.py::test_udp_flows_are_hashed_over_addresses_and_ports": _c(
        "VP-NIC-03",
        "UDP flows hashed over addresses and ports",
        "Otherwise all media of one peer lands on one queue.",
        "advisory",
    ),
    "test_nic_tuning.py::test_rps_and_xps_steer_as_declared": _c(
        "VP-NIC-04", "RPS and XPS as declared", "Packet steering over CPUs.", "advisory"
    ),
    "test_nic_tuning.py::test_queue_irqs_are_spread_over_the_nics_cpus": _c(
        "VP-NIC-05", "Queue IRQs spread over CPUs", "One CPU must not take every IRQ.", "advisory"
    ),
    "test_nic_tuning.py::test_coalescing_and_offloads_are_as_declared": _c(
        "VP-NIC-06",
        "Coalescing and offloads as declared",
        "Interrupt coalescing trades latency for CPU; it is declared, not left to chance.",
        "advisory",
    ),
    "test_nic_tuning.py::test_a_unit_restores_the_tuning_at_boot": _c(
        "VP-NIC-07", "NIC tuning restored at boot", "A reboot must not undo it.", "advisory"
    ),
    # firewall
    "test_firewall.py::test_inbound_is_dropped_by_default": _c(
        "VP-FW-01", "Inbound traffic is dropped by default", "Only what is declared is reachable."
    ),
    "test_firewall.py::test_ssh_only_from_the_admin_ranges": _c(
        "VP-FW-02", "SSH only from the admin ranges", "SSH is never open to the internet."
    ),
    "test_firewall.py::test_media_and_service_ports_are_open": _c(
        "VP-FW-03", "Media and signalling ports are open", "Callers must reach the SFU."
    ),
    "test_firewall.py::test_dropped_packets_are_logged_only_when_asked": _c(
        "VP-FW-04",
        "Dropped packets are logged only when asked",
        "Logging every drop floods the journal under attack.",
        "advisory",
    ),
    "test_firewall.py::test_bgp_and_bfd_only_from_the_neighbours": _c(
        "VP-FW-05", "BGP and BFD only from the neighbours", "Nobody else may talk to BIRD."
    ),
    "test_firewall.py::test_the_rules_are_loaded_at_boot": _c(
        "VP-FW-06", "The firewall is loaded at boot", "A reboot must not open the host."
    ),
    "test_firewall.py::test_exactly_the_declared_ways_in_are_open": _c(
        "VP-FW-07",
        "The loaded ruleset is exactly the declared one: every accept rule and address set",
        "A rule added by hand (one more accept) opens the host while every expected rule is "
        "still there.",
    ),
    "test_firewall.py::test_no_other_table_hooks_input": _c(
        "VP-FW-08",
        "No other nftables table sees inbound traffic",
        "Another table on the input hook can accept what the declared one would drop.",
    ),
    "test_firewall.py::test_nothing_listens_beyond_loopback_that_is_not_declared": _c(
        "VP-FW-09",
        "Nothing listens beyond loopback that the spec does not declare",
        "An undeclared service is attack surface the firewall alone stands in front of.",
    ),
    # SFU
    "test_sfu.py::test_the_sfu_runs_and_starts_at_boot": _c(
        "VP-SFU-01", "The SFU runs and starts at boot", "No SFU, no calls."
    ),
    "test_sfu.py::test_it_answers_its_health_endpoint_with_only_the_kept_plugins": _c(
        "VP-SFU-02",
        "The SFU answers its health endpoint with only the kept plugins",
        "Every extra plugin or transport is attack surface.",
    ),
    "test_sfu.py::test_it_listens_where_declared_and_admin_only_locally": _c(
        "VP-SFU-03",
        "The SFU listens where declared; its admin API only locally",
        "The admin API can end every call.",
    ),
    "test_sfu.py::test_the_admin_secret_is_the_hosts_own": _c(
        "VP-SFU-04",
        "The admin secret is the host's own, not the packaged default",
        "The packaged default is public.",
    ),
    "test_sfu.py::test_open_files_limit_is_what_the_host_can_honour": _c(
        "VP-SFU-05",
        "The SFU's open-files limit is what the host honours",
        "Each call takes sockets; a low limit refuses callers.",
        "advisory",
    ),
    # anycast
    "test_anycast.py::test_every_session_is_established": _c(
        "VP-BGP-01", "Every BGP session is established", "No session, no announcement."
    ),
    "test_anycast.py::test_the_exported_set_is_exactly_the_spec": _c(
        "VP-BGP-02",
        "Exactly the declared prefixes are announced",
        "Announcing more hijacks someone's traffic; less loses callers.",
    ),
    "test_anycast.py::test_bfd_is_up_where_asked": _c(
        "VP-BGP-03", "BFD is up where asked", "BFD makes failover sub-second.", "advisory"
    ),
    "test_anycast.py::test_the_service_addresses_are_bound": _c(
        "VP-BGP-04",
        "The anycast service addresses are bound",
        "Announced but unbound is a black hole.",
    ),
    "test_anycast.py::test_bird_and_the_healthchecker_run_and_start_at_boot": _c(
        "VP-BGP-05",
        "BIRD and the healthchecker run and start at boot",
        "The healthchecker withdraws a failed SFU.",
    ),
}


def control_of(nodeid: str) -> Control:
    """The control of a test id such as verify/test_base.py::test_x[host]."""
    key = nodeid.split("/")[-1].split("[", 1)[0]
    return CONTROLS.get(key) or Control(key, key.split("::")[-1], "", "mandatory")


def host_of(nodeid: str) -> str:
    return nodeid.rsplit("[", 1)[1].rstrip("]") if nodeid.endswith("]") else ""

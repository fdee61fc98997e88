"""pyinfra's inventory of hosts (the roles' input): each host's entry as pyinfra takes it, how
to reach it beside its role data. Pure."""

from typing import Any

GROUP = "sfu"


def render_pyinfra(hosts: list[dict[str, Any]], header: str = "") -> str:
    """`header`: a comment that says where the file comes from."""
    entries = []
    for host in hosts:
        data = {k: v for k, v in host.items() if k not in ("name", "address", "ssh_key")}
        data["ssh_hostname"] = host["address"]
        if "ssh_key" in host:
            data |= {
                "ssh_key": host["ssh_key"],
                "ssh_strict_host_key_checking": "off",
                "ssh_known_hosts_file": "/dev/null",
            }
        entries.append((host["name"], data))
    return header + f"{GROUP} = {entries!r}\n"

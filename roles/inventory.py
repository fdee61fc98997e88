"""pyinfra's inventory of hosts (the roles' input): each host's entry (roles/host.py) as
pyinfra's host data, with how to reach it. Pure."""

from roles.host import HostEntry

GROUP = "sfu"


def render_pyinfra(hosts: list[HostEntry], header: str = "") -> str:
    """`header`: a comment that says where the file comes from."""
    entries = []
    for host in hosts:
        data = {k: v for k, v in host.as_json().items() if k not in ("name", "address")}
        data["ssh_hostname"] = host.address
        if host.ssh_key:
            data |= {"ssh_strict_host_key_checking": "off", "ssh_known_hosts_file": "/dev/null"}
        entries.append((host.name, data))
    return header + f"{GROUP} = {entries!r}\n"

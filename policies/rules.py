"""The policies' checks on plain values: resources as the engine shows them to a policy pack
(type, name, properties) and the stack's declared PoP spec. Pure, so each policy is tested on
violating and compliant resources without the engine; policies/pack.py wires them into
CrossGuard. A check returns its violations, each naming the resource, the value and what is
allowed; a value not known yet (a preview of a resource still to be created) is not judged.
"""

import ipaddress
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stacks.host_data import ROLE_SECTIONS
from stacks.resources import host_deploy as deploy_command
from stacks.resources.flexmetal.schema import PROVIDER as FLEXMETAL_PROVIDER
from stacks.resources.flexmetal.schema import SERVER
from stacks.resources.vproute53.schema import HEALTH_CHECK, RECORD_SETS
from stacks.spec.capacity import Sizing, largest_wave
from stacks.spec.reference import MAX_IPV4_PREFIX_LEN, MAX_IPV6_PREFIX_LEN
from stacks.spec.routing import RoutingRegistry, rpki_state

POP_CONFIG_KEY = "voicepop:pop"
FLEXMETAL_TOKEN_KEY = "flexmetal:token"
MIN_SECRET_LENGTH = 6  # shorter secret values match too much by chance to be looked for
REDACTED = "[secret]"  # a secret the engine could not decrypt for the pack


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class StackConfig:
    """The stack's configuration as the engine hands it to the pack: values by `ns:key`, and
    which of them are stored encrypted (`secure:` in the stack file)."""

    values: Mapping[str, str]
    secret_keys: frozenset[str] = frozenset()

    def pop(self) -> dict[str, Any]:
        raw = self.values.get(POP_CONFIG_KEY)
        return dict(json.loads(raw)) if raw else {}

    def missing(self) -> str | None:
        """Why the policies that read the stack's config cannot judge, if they cannot."""
        if POP_CONFIG_KEY in self.values:
            return None
        return (
            f"the stack's config ({POP_CONFIG_KEY}) did not reach the policy pack, so this "
            "policy cannot judge; allowed: a preview or up, or `make policy-analyze`, which "
            "passes it to `pulumi policy analyze`"
        )

    def environment(self) -> str:
        return str(self.pop().get("environment", "production"))


def deploy_environment(deploy: Resource) -> Mapping[str, Any]:
    environment = deploy.props.get("environment")
    return environment if isinstance(environment, Mapping) else {}


def host_entry(deploy: Resource) -> dict[str, Any] | None:
    """A host deploy's host entry (JSON in its environment), or None while it is not known."""
    raw = deploy_environment(deploy).get(deploy_command.HOST)
    return dict(json.loads(raw)) if isinstance(raw, str) else None


def is_host_deploy(resource: Resource) -> bool:
    return deploy_command.is_host_deploy(resource.type, resource.name)


def encrypted_values_left_out(resource: Resource) -> Mapping[str, Any]:
    """The properties as the state keeps them in plain text: a host deploy's secrets (its
    and its attempt marker's VOICEPOP_SECRET_* variables) are secret values, which the state
    encrypts."""
    marker = deploy_command.is_attempt_marker(resource.type, resource.name)
    if not (is_host_deploy(resource) or marker):
        return resource.props
    environment = {
        key: value
        for key, value in deploy_environment(resource).items()
        if not key.startswith(deploy_command.SECRET_PREFIX)
    }
    return {**resource.props, "environment": environment}


def of_type(resources: Sequence[Resource], token: str) -> list[Resource]:
    return [r for r in resources if r.type == token]


# --- resource policies --------------------------------------------------------------------


def os_and_instance_type(
    server: Resource, allowed_os: Sequence[str], allowed_instance_types: Sequence[str]
) -> Iterator[str]:
    if server.type != SERVER.token:
        return
    os_slug, instance_type = server.props.get("os_slug"), server.props.get("instance_type")
    if os_slug is not None and os_slug not in allowed_os:
        yield (
            f"server {server.name}: OS image {os_slug!r} is not approved; "
            f"allowed: {', '.join(allowed_os)}"
        )
    if instance_type is not None and instance_type not in allowed_instance_types:
        yield (
            f"server {server.name}: instance type {instance_type!r} is not approved; "
            f"allowed: {', '.join(allowed_instance_types)}"
        )


def dns_ttls(records: Resource, min_ttl_s: int, max_ttl_s: int) -> Iterator[str]:
    if records.type != RECORD_SETS.token:
        return
    for record in records.props.get("records") or []:
        ttl = int(record["ttl"])
        if not min_ttl_s <= ttl <= max_ttl_s:
            yield (
                f"record {record['name']} {record['type']} ({records.name}): TTL {ttl} s is "
                f"outside policy; allowed: {min_ttl_s} to {max_ttl_s} s (short enough for "
                "failover, long enough not to flood the resolvers)"
            )


def ssh_admin_ranges(
    deploy: Resource, min_ipv4_prefix_len: int, min_ipv6_prefix_len: int
) -> Iterator[str]:
    """The firewall's SSH openings as the host deploy gets them: never world-open, never wider
    than an admin network."""
    entry = host_entry(deploy) if is_host_deploy(deploy) else None
    if entry is None:
        return
    shortest = {4: min_ipv4_prefix_len, 6: min_ipv6_prefix_len}
    for cidr in entry.get("firewall", {}).get("admin_ranges", []):
        network = ipaddress.ip_network(cidr, strict=False)
        if network.prefixlen == 0 or network.prefixlen < shortest[network.version]:
            yield (
                f"host {entry['name']} ({deploy.name}): SSH admin range {cidr} is "
                f"{'open to the world' if network.prefixlen == 0 else 'too wide'}; allowed: "
                f"/{shortest[4]} or narrower for IPv4, /{shortest[6]} or narrower for IPv6"
            )


def plain_secrets(
    resource: Resource, config: StackConfig, secret_inputs: Mapping[str, Sequence[str]]
) -> Iterator[str]:
    """No secret of the stack (a `secure:` config value: MD5 keys, the provider token) in a
    property that the state keeps in plain text; `secret_inputs` maps resource types to the
    properties their plugin's schema encrypts. The message names the config key, never the
    value."""
    secrets = {
        key: value
        for key, value in config.values.items()
        if key in config.secret_keys and len(value) >= MIN_SECRET_LENGTH and value != REDACTED
    }
    for prop, value in sorted(encrypted_values_left_out(resource).items()):
        if prop in secret_inputs.get(resource.type, ()):
            continue
        text = json.dumps(value) if not isinstance(value, str) else value
        for key in sorted(k for k, secret in secrets.items() if secret in text):
            yield (
                f"{resource.type} {resource.name}: property {prop} holds the value of secret "
                f"config {key} in plain text (the state would keep it unencrypted); allowed: "
                f"only in {', '.join(secret_inputs.get(resource.type, ())) or 'no property'} "
                "of this resource, which the state encrypts"
            )


# --- stack policies -----------------------------------------------------------------------


def server_redundancy(
    resources: Sequence[Resource], config: StackConfig, environment: str, min_servers: int
) -> Iterator[str]:
    if config.missing():
        yield str(config.missing())
        return
    if config.environment() != environment:
        return
    servers = sorted(r.name for r in of_type(resources, SERVER.token))
    if len(servers) < min_servers:
        pop = config.pop().get("code", "?")
        yield (
            f"{environment} PoP {pop} has {len(servers)} server(s) ({', '.join(servers) or 'none'})"
            f"; allowed: at least {min_servers}, so one can fail or be drained without an outage"
        )


def sized_for_peak(
    resources: Sequence[Resource],
    config: StackConfig,
    calls_per_server: Mapping[str, int],
    environments: Sequence[str],
) -> Iterator[str]:
    """The PoP's servers as the stack holds them carry its declared peak (capacity.peak_calls)
    with one out (N+1) and with its rollout's largest wave out, each server by the calls its
    instance type carries (the fewest of the types it holds, while a change replaces them)."""
    if config.missing():
        yield str(config.missing())
        return
    pop = config.pop()
    peak = (pop.get("capacity") or {}).get("peak_calls")
    if config.environment() not in environments or not peak:
        return
    servers = of_type(resources, SERVER.token)
    types = sorted({str(s.props.get("instance_type")) for s in servers})
    unknown = [t for t in types if t not in calls_per_server]
    code = pop.get("code", "?")
    if unknown:
        yield (
            f"PoP {code}: no calls per server for {', '.join(unknown)} in the provider "
            "catalogue, so it cannot be sized for its peak; allowed: an instance type with "
            "its figure (stacks/spec/flexmetal_catalogue.yaml callsPerServer)"
        )
        return
    rollout = (pop.get("deploy") or {}).get("rollout") or {}
    per_server = min((calls_per_server[t] for t in types), default=0)
    count = len(servers)
    wave = largest_wave(count, int(rollout.get("canary", 1)), str(rollout.get("batch", "25%")))
    sizing = Sizing(count, per_server, int(peak), wave if count else 0)
    if sizing.with_one_out < sizing.peak_calls:
        yield (
            f"PoP {code}: {count} server(s) of {per_server} calls carry {sizing.with_one_out} "
            f"with one out, below its peak of {peak}; allowed: at least "
            f"{sizing.servers_needed} servers (N+1)"
        )
    elif sizing.largest_wave > 1 and sizing.during_rollout < sizing.peak_calls:
        yield (
            f"PoP {code}: its rollout's largest wave ({sizing.largest_wave} out) leaves "
            f"{sizing.during_rollout} calls, below its peak of {peak}; allowed: smaller waves"
        )


def announced_prefixes(config: StackConfig, registry: RoutingRegistry) -> Iterator[str]:
    if config.missing():
        yield str(config.missing())
        return
    pop = config.pop()
    bgp = pop.get("bgp") or {}
    origin = bgp.get("local_asn")
    for announced in bgp.get("prefixes") or []:
        prefix = announced["prefix"]
        network = ipaddress.ip_network(prefix, strict=False)
        longest = MAX_IPV4_PREFIX_LEN if network.version == 4 else MAX_IPV6_PREFIX_LEN
        if network.prefixlen > longest:
            yield (
                f"PoP {pop.get('code')}: prefix {prefix} is longer than /{longest}, which "
                f"transit drops; allowed: /{longest} or shorter"
            )
        state = rpki_state(prefix, int(origin), list(registry.roas)) if origin else "not-found"
        if state != "valid":
            yield (
                f"PoP {pop.get('code')}: prefix {prefix} is RPKI-{state} for origin AS{origin}; "
                "allowed: a ROA for that origin covering it, max length at least its length"
            )
        if not any(
            obj.origin_asn == origin and ipaddress.ip_network(obj.prefix) == network
            for obj in registry.route_objects
        ):
            yield (
                f"PoP {pop.get('code')}: prefix {prefix} has no IRR route object for origin "
                f"AS{origin}; allowed: a registered route object (routing/registry.yaml)"
            )


def host_deploys(
    resources: Sequence[Resource], config: StackConfig, environments: Sequence[str]
) -> Iterator[str]:
    """Every server has its host deploy (which runs the verification gate) with every role."""
    if config.missing():
        yield str(config.missing())
        return
    if config.environment() not in environments:
        return
    yield from _deploys_turned_off(config)
    deploys = {
        r.name.removesuffix(deploy_command.RESOURCE_SUFFIX): r
        for r in resources
        if is_host_deploy(r)
    }
    for server in sorted(r.name for r in of_type(resources, SERVER.token)):
        deploy = deploys.get(server)
        if deploy is None:
            yield (
                f"server {server} has no host deploy, so nothing deploys or verifies it; "
                "allowed: deploy.enabled true (a host deploy Command per server)"
            )
            continue
        if deploy_environment(deploy).get(deploy_command.SIMULATE) == "1":
            yield (
                f"server {server}: its host deploy is simulated, so nothing runs on the host "
                "while it looks deployed; allowed: a real deploy (deploy.simulate false)"
            )
        entry = host_entry(deploy)
        missing = [s for s in ROLE_SECTIONS if entry is not None and s not in entry]
        if missing:
            yield (
                f"server {server}: its host deploy lacks role data {', '.join(missing)}; "
                f"allowed: the whole site ({', '.join(ROLE_SECTIONS)})"
            )


def _deploys_turned_off(config: StackConfig) -> Iterator[str]:
    """The spec itself may not simulate or skip the host deploys (only a sandbox may)."""
    deploy = config.pop().get("deploy") or {}
    pop = config.pop().get("code")
    if deploy.get("simulate") is True:
        yield (
            f"PoP {pop} ({config.environment()}) sets deploy.simulate: hosts would look "
            "deployed while nothing ran; allowed: deploy.simulate false (only a sandbox "
            "simulates)"
        )
    if deploy.get("enabled") is False:
        yield (
            f"PoP {pop} ({config.environment()}) sets deploy.enabled false: no host would be "
            "deployed or verified; allowed: deploy.enabled true (only a sandbox skips it)"
        )


def health_checked_servers(resources: Sequence[Resource]) -> Iterator[str]:
    """Across resources: every server has its own Route 53 health check on its address, the
    PoP's calculated check counts it, and every steered record is gated by a health check."""
    checks = of_type(resources, HEALTH_CHECK.token)
    own = {str(c.props.get("key", "")): c for c in checks if c.props.get("kind") != "CALCULATED"}
    calculated = [c for c in checks if c.props.get("kind") == "CALCULATED"]
    for server in sorted(of_type(resources, SERVER.token), key=lambda r: r.name):
        check = next((c for key, c in own.items() if key.endswith(f"-{server.name}")), None)
        if check is None:
            yield (
                f"server {server.name} has no health check, so DNS keeps sending callers to it "
                "when it fails; allowed: one HTTP/HTTPS/TCP check per server"
            )
            continue
        address = server.props.get("primary_ip")
        if address and check.props.get("address") not in (None, address):
            yield (
                f"server {server.name}: its health check {check.name} probes "
                f"{check.props.get('address')}, not the server's {address}"
            )
        check_id = check.props.get("health_check_id")
        if (
            check_id
            and calculated
            and not any(check_id in (c.props.get("child_ids") or []) for c in calculated)
        ):
            yield (
                f"server {server.name}: its health check {check_id} is not counted by the "
                f"PoP's calculated check ({', '.join(c.name for c in calculated)})"
            )
    for records in of_type(resources, RECORD_SETS.token):
        for record in records.props.get("records") or []:
            if record.get("set_identifier") and not record.get("health_check"):
                yield (
                    f"steered record {record['name']} {record['type']} ({records.name}) has no "
                    "health check; allowed: the PoP's calculated health check"
                )


def secret_config(config: StackConfig) -> Iterator[str]:
    """The secrets the spec names (BGP MD5 keys) and the provider token are stored encrypted."""
    if config.missing():
        yield str(config.missing())
        return
    neighbors = (config.pop().get("bgp") or {}).get("neighbors") or []
    named = sorted({f"voicepop:{n['md5_secret']}" for n in neighbors if n.get("md5_secret")})
    if FLEXMETAL_TOKEN_KEY in config.values:
        named.append(FLEXMETAL_TOKEN_KEY)
    for key in named:
        if key in config.values and key not in config.secret_keys:
            yield (
                f"config {key} is stored in plain text in the stack file; allowed: "
                f"`pulumi config set --secret {key.split(':', 1)[1]}` (a secure: value)"
            )


SECRET_INPUTS = {schema.token: schema.secret for schema in (FLEXMETAL_PROVIDER,) if schema.secret}

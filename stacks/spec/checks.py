"""Checks that relate fields of a PoP spec to each other, to the stack's config, to the
provider's catalogue and to the other PoPs in the repo. Pure: data in, errors out."""

import ipaddress
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from roles.base.defaults import DEPLOY_SSH_USER
from roles.sfu.access import TOKEN_SECRET_KEY
from roles.sfu.defaults import PortRange
from roles.sfu.tls import ROUTE53_SECRET_KEY
from stacks.spec.capacity import (
    batch_size,
    capacity_floor,
    in_service_during_rollout,
    probe_load,
    sizing_of,
)
from stacks.spec.catalogue import load_catalogue
from stacks.spec.errors import SpecError
from stacks.spec.models import NeighborSpec, PopSpec
from stacks.spec.reference import (
    AWS_REGIONS,
    MAX_ASN,
    MIN_SSH_ADMIN_IPV4_PREFIX_LEN,
    MIN_SSH_ADMIN_IPV6_PREFIX_LEN,
    PRIVATE_ASN_RANGES,
    RESERVED_ASN_RANGES,
    ROUTE53_CONTINENTS,
)

ROOT = "voicepop:pop"
SSH_PORT = 22
BGP_PORT = 179
DNS_LABEL_MAX = 63
DNS_NAME_MAX = 253


@dataclass(frozen=True)
class StackContext:
    """What a spec is checked against besides itself: its stack and config keys."""

    stack: str
    # config keys of the stack's namespace (without "voicepop:"), mapped to "is secret"
    config_keys: Mapping[str, bool]


def check_pop(spec: PopSpec, context: StackContext) -> list[SpecError]:
    return [
        *_check_identity(spec, context),
        *_check_provider(spec),
        *_check_servers(spec),
        *_check_asns(spec),
        *_check_prefixes(spec),
        *_check_neighbors(spec, context),
        *(_check_sfu_token_secret(context) if spec.deploy.configures_hosts else ()),
        *(_check_acme(spec, context) if spec.deploy.configures_hosts else ()),
        *_check_health(spec),
        *_check_dns(spec),
        *_check_ports(spec),
        *_check_access(spec),
        *_check_limits(spec),
        *_check_timings(spec),
        *_check_tcp_services(spec),
        *_check_server_name_lengths(spec),
        *_check_deploy(spec),
        *_check_deploy_user_admitted(spec),
        *_check_rollout(spec),
        *_check_probing(spec),
        *_check_sizing(spec),
    ]


def _check_identity(spec: PopSpec, context: StackContext) -> Iterator[SpecError]:
    if spec.environment != "sandbox" and context.stack != spec.code:
        yield SpecError(
            f"{ROOT}.code",
            spec.code,
            f"does not match the stack name {context.stack!r}",
            f"the code of Pulumi.{spec.code}.yaml is {spec.code!r} (only a sandbox may differ)",
        )


def _check_provider(spec: PopSpec) -> Iterator[SpecError]:
    catalogue = load_catalogue(spec.provider.name)
    path = f"{ROOT}.provider"
    location = spec.provider.location
    if location not in catalogue.instance_types_by_location:
        yield SpecError(
            f"{path}.location",
            location,
            f"unknown {spec.provider.name} location",
            ", ".join(repr(name) for name in catalogue.locations),
        )
    elif spec.provider.instance_type not in catalogue.instance_types_by_location[location]:
        yield SpecError(
            f"{path}.instance_type",
            spec.provider.instance_type,
            f"not offered in {location!r}",
            ", ".join(catalogue.instance_types_by_location[location]),
        )
    if spec.provider.os not in catalogue.operating_systems:
        yield SpecError(
            f"{path}.os",
            spec.provider.os,
            f"unknown {spec.provider.name} OS image",
            ", ".join(catalogue.operating_systems),
        )


def _check_servers(spec: PopSpec) -> Iterator[SpecError]:
    path = f"{ROOT}.servers"
    servers = spec.servers
    if (servers.count is None) == (servers.names is None):
        yield SpecError(
            path,
            servers.model_dump(exclude_none=True),
            "give exactly one of count or names",
            "count: N, or names: [a, b, ...]",
        )
        return
    if servers.names is not None and servers.name_prefix is not None:
        yield SpecError(
            f"{path}.name_prefix",
            servers.name_prefix,
            "only applies with count",
            "drop name_prefix, or use count instead of names",
        )


def _asn_problem(asn: int, *, allow_private: bool) -> tuple[str, str] | None:
    for first, last, why in RESERVED_ASN_RANGES:
        if first <= asn <= last:
            return why, "a public ASN, or a private one (64512-65534) in a sandbox"
    if not allow_private and any(first <= asn <= last for first, last in PRIVATE_ASN_RANGES):
        return (
            "private ASN in a production or staging PoP: upstreams strip or reject it",
            f"a public ASN assigned to you (1-{MAX_ASN}, not reserved)",
        )
    return None


def _check_asns(spec: PopSpec) -> Iterator[SpecError]:
    local = _asn_problem(spec.bgp.local_asn, allow_private=spec.environment == "sandbox")
    if local:
        yield SpecError(f"{ROOT}.bgp.local_asn", spec.bgp.local_asn, *local)
    for index, neighbor in enumerate(spec.bgp.neighbors):
        peer = _asn_problem(neighbor.peer_asn, allow_private=True)
        if peer:
            yield SpecError(
                f"{ROOT}.bgp.neighbors[{index}].peer_asn",
                neighbor.peer_asn,
                peer[0],
                "the peer's ASN (private ASNs allowed for peers)",
            )


def _unknown_servers(spec: PopSpec, path: str, names: Sequence[str] | None) -> Iterator[SpecError]:
    known = spec.server_names
    for index, name in enumerate(names or []):
        if name not in known:
            yield SpecError(
                f"{path}[{index}]", name, "not a server of this PoP", ", ".join(known) or "none"
            )


def _check_prefixes(spec: PopSpec) -> Iterator[SpecError]:
    path = f"{ROOT}.bgp.prefixes"
    networks = [ipaddress.ip_network(prefix.prefix) for prefix in spec.bgp.prefixes]
    for index, prefix in enumerate(spec.bgp.prefixes):
        yield from _unknown_servers(spec, f"{path}[{index}].servers", prefix.servers)
        if prefix.kind == "unicast" and len(prefix.servers or spec.server_names) != 1:
            yield SpecError(
                f"{path}[{index}].servers",
                prefix.servers,
                "a unicast prefix has one server",
                "servers: [<one server>], or kind: anycast",
            )
        for other in range(index):
            if _overlap(networks[index], networks[other]):
                yield SpecError(
                    f"{path}[{index}].prefix",
                    prefix.prefix,
                    f"overlaps {spec.bgp.prefixes[other].prefix} ({path}[{other}])",
                    "disjoint prefixes within a PoP",
                )


def _overlap(
    a: ipaddress.IPv4Network | ipaddress.IPv6Network,
    b: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return a.version == b.version and a.overlaps(b)


def _check_neighbors(spec: PopSpec, context: StackContext) -> Iterator[SpecError]:
    path = f"{ROOT}.bgp.neighbors"
    for name, times in Counter(n.name for n in spec.bgp.neighbors).items():
        if times > 1:
            yield SpecError(path, name, f"neighbor name used {times} times", "unique names")
    for index, neighbor in enumerate(spec.bgp.neighbors):
        here = f"{path}[{index}]"
        yield from _same_peer_address(spec, index)
        yield from _unknown_servers(spec, f"{here}.servers", neighbor.servers)
        yield from _check_timers(here, neighbor)
        yield from _check_md5_reference(here, neighbor, context)


def _same_peer_address(spec: PopSpec, index: int) -> Iterator[SpecError]:
    """Two sessions of one server to the same address: BIRD takes one, the other never
    establishes (a second router is a second address)."""
    neighbor = spec.bgp.neighbors[index]
    mine = set(neighbor.servers or spec.server_names)
    for other, earlier in enumerate(spec.bgp.neighbors[:index]):
        shared = mine & set(earlier.servers or spec.server_names)
        if earlier.peer_address == neighbor.peer_address and shared:
            yield SpecError(
                f"{ROOT}.bgp.neighbors[{index}].peer_address",
                neighbor.peer_address,
                f"also the address of {earlier.name} (bgp.neighbors[{other}]) on "
                f"{', '.join(sorted(shared))}",
                "one session per peer address and server",
            )


def _check_health(spec: PopSpec) -> Iterator[SpecError]:
    health = spec.bgp.health
    if health.timeout_s >= health.interval_s:
        yield SpecError(
            f"{ROOT}.bgp.health.timeout_s",
            health.timeout_s,
            f"not shorter than interval_s ({health.interval_s})",
            "a timeout shorter than the interval, so checks never overlap",
        )


def _check_timers(path: str, neighbor: NeighborSpec) -> Iterator[SpecError]:
    hold, keepalive = neighbor.hold_time_s, neighbor.keepalive_s
    if hold != 0 and not 3 <= hold <= 65_535:
        yield SpecError(f"{path}.hold_time_s", hold, "invalid BGP hold time", "0, or 3 to 65535")
    elif hold != 0 and keepalive * 3 > hold:
        yield SpecError(
            f"{path}.keepalive_s",
            keepalive,
            f"more than a third of hold_time_s ({hold})",
            f"at most {hold // 3} (RFC 4271 suggests a third of the hold time)",
        )


def _check_md5_reference(
    path: str, neighbor: NeighborSpec, context: StackContext
) -> Iterator[SpecError]:
    key = neighbor.md5_secret
    if key is None:
        return
    if key not in context.config_keys:
        yield SpecError(
            f"{path}.md5_secret",
            key,
            f"no config key voicepop:{key} in this stack",
            f"set it with `pulumi config set --secret {key} <md5-key>`",
        )
    elif not context.config_keys[key]:
        yield SpecError(
            f"{path}.md5_secret",
            key,
            f"voicepop:{key} is stored in clear text",
            f"a secret: `pulumi config set --secret {key} <md5-key>`",
        )


def _check_sfu_token_secret(context: StackContext) -> Iterator[SpecError]:
    """The SFU admits only callers with a token signed by this secret (roles/sfu/access.py)."""
    key = TOKEN_SECRET_KEY
    how = f"`pulumi config set --secret {key} $(openssl rand -hex 32)`, the fleet's one value"
    if key not in context.config_keys:
        yield SpecError(
            f"voicepop:{key}", None, "no token secret for the SFU's callers in this stack", how
        )
    elif not context.config_keys[key]:
        yield SpecError(
            f"voicepop:{key}", "(clear text)", "stored in clear text", f"a secret: {how}"
        )


def _check_acme(spec: PopSpec, context: StackContext) -> Iterator[SpecError]:
    """The hosts' ACME client writes its DNS-01 challenges through Route 53 with these."""
    acme, path = spec.sfu.tls.acme, f"{ROOT}.sfu.tls.acme"
    if not acme.route53_access_key_id:
        yield SpecError(
            f"{path}.route53_access_key_id",
            None,
            "no AWS access key for the hosts' ACME client (DNS-01 through Route 53)",
            "the id of a key allowed to change the zone's _acme-challenge records",
        )
    key = ROUTE53_SECRET_KEY
    how = f"`pulumi config set --secret {key} <the AWS secret access key>`"
    if key not in context.config_keys:
        yield SpecError(f"voicepop:{key}", None, "no secret key for the ACME client's AWS key", how)
    elif not context.config_keys[key]:
        yield SpecError(
            f"voicepop:{key}", "(clear text)", "stored in clear text", f"a secret: {how}"
        )


def _check_dns(spec: PopSpec) -> Iterator[SpecError]:
    if spec.dns.create_zone and spec.environment != "sandbox":
        yield SpecError(
            f"{ROOT}.dns.create_zone",
            True,
            "only a sandbox creates its zone (and deletes it on destroy)",
            "false: a real zone is delegated from the registrar and looked up by name",
        )
    path = f"{ROOT}.dns.steering"
    steering = spec.dns.steering
    if steering.policy == "latency":
        if steering.aws_region not in AWS_REGIONS:
            yield SpecError(
                f"{path}.aws_region",
                steering.aws_region,
                "latency steering needs the AWS region nearest the PoP",
                ", ".join(sorted(AWS_REGIONS)),
            )
        for field in ("continent", "country"):
            if getattr(steering, field) is not None:
                yield SpecError(
                    f"{path}.{field}",
                    getattr(steering, field),
                    "only applies to policy: geo",
                    "drop it, or use policy: geo",
                )
    else:
        if steering.continent is None and steering.country is None:
            yield SpecError(
                path,
                steering.model_dump(exclude_none=True),
                "geo steering needs a continent or a country",
                "continent: EU, or country: NL",
            )
        if steering.continent is not None and steering.continent not in ROUTE53_CONTINENTS:
            yield SpecError(
                f"{path}.continent",
                steering.continent,
                "not a Route 53 continent code",
                ", ".join(sorted(ROUTE53_CONTINENTS)),
            )
        if steering.aws_region is not None:
            yield SpecError(
                f"{path}.aws_region",
                steering.aws_region,
                "only applies to policy: latency",
                "drop it, or use policy: latency",
            )


def _check_ports(spec: PopSpec) -> Iterator[SpecError]:
    media = spec.sfu.media_ports
    kernel = spec.tuning.kernel
    media_path = f"{ROOT}.sfu.media_ports"
    ephemeral_path = f"{ROOT}.tuning.kernel.ephemeral_port_first"
    if media.first > media.last:
        yield SpecError(media_path, media.model_dump(), "first is above last", "first <= last")
        return
    if kernel.ephemeral_port_first > kernel.ephemeral_port_last:
        yield SpecError(
            ephemeral_path,
            kernel.ephemeral_port_first,
            "above ephemeral_port_last",
            f"at most {kernel.ephemeral_port_last}",
        )
        return
    ephemeral = PortRange(first=kernel.ephemeral_port_first, last=kernel.ephemeral_port_last)
    if media.first <= ephemeral.last and ephemeral.first <= media.last:
        yield SpecError(
            media_path,
            f"{media.first}-{media.last}",
            f"overlaps the kernel's ephemeral port range {ephemeral.first}-{ephemeral.last}: "
            "outgoing connections would take media ports",
            f"a range outside {ephemeral.first}-{ephemeral.last}, or move "
            "tuning.kernel.ephemeral_port_first/last",
        )
    for field, port in (
        ("sfu.signalling_port", spec.sfu.signalling_port),
        ("sfu.health.port", spec.sfu.health.port),
        ("sfu.assign_port", spec.sfu.assign_port),
        ("sfu.tls.port", spec.sfu.tls.port),
    ):
        if media.first <= port <= media.last:
            yield SpecError(
                f"{ROOT}.{field}",
                port,
                f"inside the media range {media.first}-{media.last}",
                "a port outside the media range",
            )
    for index, port in enumerate(spec.firewall.extra_tcp_ports):
        if port == SSH_PORT or media.first <= port <= media.last:
            yield SpecError(
                f"{ROOT}.firewall.extra_tcp_ports[{index}]",
                port,
                "SSH's port (open to the admin ranges only) or inside the media range",
                f"a port other than {SSH_PORT} and outside {media.first}-{media.last}",
            )


def _check_limits(spec: PopSpec) -> Iterator[SpecError]:
    file_max = spec.tuning.kernel.file_max
    if spec.sfu.nofile_limit > file_max:
        yield SpecError(
            f"{ROOT}.sfu.nofile_limit",
            spec.sfu.nofile_limit,
            f"above the machine's file limit tuning.kernel.file_max ({file_max})",
            f"at most {file_max}, or raise tuning.kernel.file_max",
        )


def _not_above(path: str, value: float, limit_path: str, limit: float) -> Iterator[SpecError]:
    """`value` (at `path`) may not exceed the related field at `limit_path`."""
    if value > limit:
        yield SpecError(
            f"{ROOT}.{path}",
            value,
            f"above {limit_path} ({limit})",
            f"at most {limit}, or raise {limit_path}",
        )


def _check_timings(spec: PopSpec) -> Iterator[SpecError]:
    """Values that contradict each other: a poll interval longer than its timeout, a default
    above its own maximum, a wait longer than the deploy that waits."""
    provider, deploy, kernel = spec.provider, spec.deploy, spec.tuning.kernel
    pairs: list[tuple[str, float, str, float]] = [
        ("provider.delivery_poll_interval_s", provider.delivery_poll_interval_s,
         "provider.delivery_timeout_s", provider.delivery_timeout_s),
        ("provider.release_poll_interval_s", provider.release_poll_interval_s,
         "provider.release_timeout_s", provider.release_timeout_s),
        ("provider.request_timeout_s", provider.request_timeout_s,
         "provider.delivery_timeout_s", provider.delivery_timeout_s),
        ("tuning.kernel.rmem_default_bytes", kernel.rmem_default_bytes,
         "tuning.kernel.rmem_max_bytes", kernel.rmem_max_bytes),
        ("tuning.kernel.wmem_default_bytes", kernel.wmem_default_bytes,
         "tuning.kernel.wmem_max_bytes", kernel.wmem_max_bytes),
        ("anycast.error_wait_min_s", spec.anycast.error_wait_min_s,
         "anycast.error_wait_max_s", spec.anycast.error_wait_max_s),
        ("deploy.settle_s", deploy.settle_s, "deploy.timeout_s", deploy.timeout_s),
        ("deploy.ssh_dead_after_s", deploy.ssh_dead_after_s,
         "deploy.timeout_s", deploy.timeout_s),
        ("bgp.drain_wait_s", spec.bgp.drain_wait_s, "deploy.timeout_s", deploy.timeout_s),
        ("sfu.call_gate.setup_timeout_s", spec.sfu.call_gate.setup_timeout_s,
         "deploy.timeout_s", deploy.timeout_s),
    ]  # fmt: skip
    for path, value, limit_path, limit in pairs:
        yield from _not_above(path, value, limit_path, limit)


def _check_tcp_services(spec: PopSpec) -> Iterator[SpecError]:
    """Two services on one TCP port: the second would fail to bind, or take the first's
    traffic. The health check may probe the signalling API itself (the default)."""
    listeners: list[tuple[str, int]] = [("SSH", SSH_PORT)]
    if spec.bgp.neighbors:
        listeners.append(("BGP", BGP_PORT))
    listeners += [
        ("sfu.signalling_port", spec.sfu.signalling_port),
        ("sfu.admin_port", spec.sfu.admin_port),
        ("sfu.assign_port", spec.sfu.assign_port),
        ("sfu.tls.port", spec.sfu.tls.port),
    ]
    if spec.sfu.health.port != spec.sfu.tls.port:
        yield SpecError(
            f"{ROOT}.sfu.health.port",
            spec.sfu.health.port,
            "not the TLS front's port: only the TLS front answers from outside the server",
            f"sfu.tls.port ({spec.sfu.tls.port})",
        )
    listeners += [
        (f"firewall.extra_tcp_ports[{index}]", port)
        for index, port in enumerate(spec.firewall.extra_tcp_ports)
        if port != SSH_PORT  # _check_ports says why not SSH's
    ]
    for index, (name, port) in enumerate(listeners):
        earlier = [other for other, taken in listeners[:index] if taken == port]
        if earlier and "." in name:
            yield SpecError(
                f"{ROOT}.{name}",
                port,
                f"the port of {earlier[0]} too: two services cannot listen on one port",
                "a TCP port no other service of the server uses "
                f"({', '.join(f'{other} {taken}' for other, taken in listeners if other != name)})",
            )


def _check_server_name_lengths(spec: PopSpec) -> Iterator[SpecError]:
    """A server's name is its host name and its DNS label: at most 63 characters, and its
    record name within DNS's 253."""
    if spec.servers.names is not None or not spec.server_names:
        return
    longest = max(spec.server_names, key=len)
    prefix = spec.servers.name_prefix or f"{spec.code}-sfu"
    path = f"{ROOT}.servers.name_prefix"
    if len(longest) > DNS_LABEL_MAX:
        yield SpecError(
            path,
            prefix,
            f"makes server names of {len(longest)} characters ({longest}): longer than a DNS label",
            f"a prefix of at most {DNS_LABEL_MAX - (len(longest) - len(prefix))} characters",
        )
    elif len(f"{longest}.{spec.dns.zone}") > DNS_NAME_MAX:
        yield SpecError(
            path,
            prefix,
            f"makes the record {longest}.{spec.dns.zone} longer than DNS's {DNS_NAME_MAX} "
            "characters",
            "a shorter prefix or zone",
        )


def _check_deploy(spec: PopSpec) -> Iterator[SpecError]:
    """A production or staging PoP's hosts are deployed and verified for real."""
    if spec.environment == "sandbox":
        return
    for field, value, problem in (
        ("simulate", spec.deploy.simulate, "simulates the host deploys: nothing would run"),
        ("enabled", not spec.deploy.enabled, "skips the host deploys and their verification"),
    ):
        if value:
            yield SpecError(
                f"{ROOT}.deploy.{field}",
                getattr(spec.deploy, field),
                f"{problem} in a {spec.environment} PoP",
                f"{'false' if field == 'simulate' else 'true'} (only a sandbox may "
                f"{'simulate' if field == 'simulate' else 'skip'} them)",
            )


def _check_deploy_user_admitted(spec: PopSpec) -> Iterator[SpecError]:
    """sshd's AllowUsers holds the deploy's own user: a list without it would lock the next
    deploy (and the suites, and the audit) out of every server."""
    allowed = spec.base.ssh_allow_users
    if DEPLOY_SSH_USER not in allowed:
        yield SpecError(
            f"{ROOT}.base.ssh_allow_users",
            list(allowed),
            f"leaves out {DEPLOY_SSH_USER!r}, the user the deploys log in as: the next deploy "
            "would be locked out of every server",
            f"a list that holds {DEPLOY_SSH_USER!r}",
        )


def _check_rollout(spec: PopSpec) -> Iterator[SpecError]:
    """Rollout sizes fit the PoP everywhere; outside a sandbox no wave drains the PoP below
    its capacity floor."""
    path = f"{ROOT}.deploy"
    servers = len(spec.server_names)
    if not servers:  # reported at servers
        return
    rollout = spec.deploy.rollout
    floor_given = spec.deploy.min_in_service
    fits = True
    for field, given in (
        ("rollout.canary", str(rollout.canary)),
        ("rollout.batch", rollout.batch),
        ("min_in_service", floor_given),
    ):
        if not given.endswith("%") and int(given) > servers:
            fits = False
            shares = "" if field == "rollout.canary" else ", or a share of the PoP such as '25%'"
            yield SpecError(
                f"{path}.{field}",
                given,
                f"more servers than the PoP's {servers}",
                f"at most {servers}{shares}",
            )
    if not fits or spec.environment == "sandbox":
        return
    floor = capacity_floor(spec)
    in_service = in_service_during_rollout(spec)
    if in_service < floor:
        wave = servers - in_service
        field = "canary" if rollout.canary >= batch_size(rollout.batch, servers) else "batch"
        yield SpecError(
            f"{path}.rollout.{field}",
            getattr(rollout, field),
            f"a wave of {wave} server(s) leaves {in_service} of {servers} in service, below "
            f"deploy.min_in_service ({floor_given}: {floor} server(s))",
            f"waves of at most {servers - floor} server(s) in a {spec.environment} PoP, or "
            "lower deploy.min_in_service",
        )


def _check_sizing(spec: PopSpec) -> Iterator[SpecError]:
    """A PoP that declares its peak carries it with one server out (N+1) and with its
    rollout's largest wave out, by the calls one server of its type carries."""
    peak = spec.capacity.peak_calls
    servers = len(spec.server_names)
    if peak is None or not servers:
        return
    catalogue = load_catalogue(spec.provider.name)
    instance_type = spec.provider.instance_type
    per_server = catalogue.calls_per_server.get(instance_type)
    path = f"{ROOT}.capacity.peak_calls"
    if per_server is None:
        measured = ", ".join(f"{t} ({c})" for t, c in sorted(catalogue.calls_per_server.items()))
        yield SpecError(
            path,
            peak,
            f"no calls per server for {instance_type} in the provider catalogue: the PoP cannot "
            "be sized",
            f"an instance type with its calls per server (stacks/spec/flexmetal_catalogue.yaml "
            f"callsPerServer): {measured}",
        )
        return
    sizing = sizing_of(spec, per_server)
    assert sizing is not None
    carried = f"{servers} {instance_type} server(s) of {per_server} calls each"
    if sizing.with_one_out < peak:
        yield SpecError(
            path,
            peak,
            f"{carried} carry {sizing.with_one_out} calls with one out, "
            f"{-sizing.headroom} short of the peak",
            f"at least {sizing.servers_needed} servers of {instance_type} (N+1), an instance "
            f"type carrying more, or a lower peak",
        )
    elif sizing.largest_wave > 1 and sizing.during_rollout < peak:
        spare = servers - math.ceil(peak / per_server)
        yield SpecError(
            f"{ROOT}.deploy.rollout.batch",
            spec.deploy.rollout.batch,
            f"a wave of {sizing.largest_wave} server(s) out leaves {sizing.during_rollout} "
            f"calls ({carried}), below the peak of {peak}",
            f"waves of at most {spare} server(s), or more servers",
        )


@dataclass(frozen=True)
class AnnouncedPrefix:
    source: str  # the stack file
    path: str
    prefix: str
    kind: str


def announced_prefixes(source: str, spec: PopSpec) -> list[AnnouncedPrefix]:
    return [
        AnnouncedPrefix(source, f"{ROOT}.bgp.prefixes[{index}].prefix", p.prefix, p.kind)
        for index, p in enumerate(spec.bgp.prefixes)
    ]


def check_across_pops(
    specs: Mapping[str, PopSpec],
) -> dict[str, list[SpecError]]:
    """Errors per stack file: PoP codes must be unique, and prefixes of different PoPs must
    not overlap, except the same anycast prefix announced from several PoPs. Each stack file
    of a clash gets the error, naming the other, so checking one file alone finds it too."""
    errors: dict[str, list[SpecError]] = {source: [] for source in specs}
    sources_by_code: dict[str, list[str]] = {}
    for source, spec in specs.items():
        sources_by_code.setdefault(spec.code, []).append(source)
    for code, sources in sources_by_code.items():
        for source in sources if len(sources) > 1 else []:
            others = ", ".join(other for other in sources if other != source)
            errors[source].append(
                SpecError(
                    f"{ROOT}.code", code, f"also the code of {others}", "a code unique in the repo"
                )
            )

    for source, spec in specs.items():
        errors[source] += _peer_problems(source, spec, specs)

    everything = [p for source, spec in specs.items() for p in announced_prefixes(source, spec)]
    for index, mine in enumerate(everything):
        for theirs in everything[:index]:
            if mine.source == theirs.source or _shared_anycast(mine, theirs):
                continue
            if _overlap(ipaddress.ip_network(mine.prefix), ipaddress.ip_network(theirs.prefix)):
                errors[mine.source].append(_prefix_clash(mine, theirs))
                errors[theirs.source].append(_prefix_clash(theirs, mine))
    return errors


def _peer_problems(source: str, spec: PopSpec, specs: Mapping[str, PopSpec]) -> list[SpecError]:
    """Each of `probing.peers` is another stack of the repo, of the same environment (a
    sandbox's probers never call production, nor the other way round)."""
    stacks = {stack_name(other): pop for other, pop in specs.items()}
    problems = []
    for index, peer in enumerate(spec.probing.peers):
        path = f"{ROOT}.probing.peers[{index}]"
        theirs = stacks.get(peer)
        others = sorted(name for name in stacks if name != stack_name(source))
        if peer == stack_name(source):
            problems.append(SpecError(path, peer, "this PoP's own stack", "another PoP's stack"))
        elif theirs is None:
            allowed = f"a stack of the repo: {', '.join(others) or 'none'}"
            missing = "no such stack (no Pulumi.<stack>.yaml in the repo)"
            problems.append(SpecError(path, peer, missing, allowed))
        elif theirs.environment != spec.environment:
            problems.append(
                SpecError(
                    path,
                    peer,
                    f"a {theirs.environment} PoP, this one is {spec.environment}",
                    f"a {spec.environment} PoP's stack",
                )
            )
    return problems


def stack_name(source: str) -> str:
    """`Pulumi.ams1.yaml` -> `ams1`."""
    return source.removeprefix("Pulumi.").removesuffix(".yaml")


def _prefix_clash(mine: AnnouncedPrefix, theirs: AnnouncedPrefix) -> SpecError:
    return SpecError(
        mine.path,
        mine.prefix,
        f"overlaps {theirs.prefix} of {theirs.source}",
        "prefixes disjoint from other PoPs', or the identical prefix as anycast in both",
    )


def _shared_anycast(a: AnnouncedPrefix, b: AnnouncedPrefix) -> bool:
    return a.kind == b.kind == "anycast" and a.prefix == b.prefix


def _check_access(spec: PopSpec) -> Iterator[SpecError]:
    """Outside a sandbox, SSH is opened to admin networks only, never to the internet."""
    if spec.environment == "sandbox":
        return
    shortest = {4: MIN_SSH_ADMIN_IPV4_PREFIX_LEN, 6: MIN_SSH_ADMIN_IPV6_PREFIX_LEN}
    for index, cidr in enumerate(spec.access.ssh_admin_ranges):
        network = ipaddress.ip_network(cidr)
        if network.prefixlen < shortest[network.version]:
            yield SpecError(
                f"{ROOT}.access.ssh_admin_ranges[{index}]",
                cidr,
                f"opens SSH to {network.num_addresses:,} addresses in a {spec.environment} PoP",
                f"an admin network of /{MIN_SSH_ADMIN_IPV4_PREFIX_LEN} or narrower (IPv6: "
                f"/{MIN_SSH_ADMIN_IPV6_PREFIX_LEN} or narrower), e.g. the VPN's or bastion's",
            )


def _check_probing(spec: PopSpec) -> Iterator[SpecError]:
    """The probers run on servers of the PoP, each once, on a port of their own, and the calls
    they place on each server of the PoP stay within the load's share of its capacity (the
    probers of other PoPs are counted when each prober starts: quality/mesh.py)."""
    probing = spec.probing
    path = f"{ROOT}.probing"
    yield from _unknown_servers(spec, f"{path}.servers", probing.servers)
    for name, count in Counter(probing.servers).items():
        if count > 1:
            yield SpecError(f"{path}.servers", name, f"named {count} times", "each server once")
    for peer, count in Counter(probing.peers).items():
        if count > 1:
            yield SpecError(f"{path}.peers", peer, f"named {count} times", "each peer once")
    if not probing.servers:
        if probing.peers:
            yield SpecError(
                f"{path}.peers",
                probing.peers,
                "no prober would call them: probing.servers names none",
                "a prober in probing.servers, or no peers",
            )
        return
    media = spec.sfu.media_ports
    ports = ((SSH_PORT, "SSH"), (BGP_PORT, "BGP"), (spec.sfu.tls.port, "sfu.tls.port"),
             (spec.sfu.health.port, "sfu.health.port"),
             (spec.sfu.signalling_port, "sfu.signalling_port"),
             (spec.sfu.assign_port, "sfu.assign_port"))  # fmt: skip
    takers = [name for port, name in ports if port == probing.port]
    if media.first <= probing.port <= media.last:
        takers.append(f"the media range {media.first}-{media.last}")
    if takers:
        yield SpecError(
            f"{path}.port", probing.port, f"taken by {', '.join(takers)}", "a port of its own"
        )
    servers = len(spec.server_names)
    load = probe_load(spec)
    per_minute = len(set(probing.servers)) * load.calls_per_minute / max(servers, 1)
    if load.share_pct(per_minute) > load.max_share_pct:
        yield SpecError(
            f"{path}.load.max_share_pct",
            load.max_share_pct,
            f"the PoP's {len(set(probing.servers))} prober(s) would put "
            f"{load.calls_at_once(per_minute):.2f} calls at once on each of its {servers} "
            f"server(s) on average ({per_minute:.1f} a minute of {load.call_s:g} s), "
            f"{load.share_pct(per_minute):.2f} % of its {load.server_capacity_calls} calls",
            f"at most {load.max_share_pct} %: fewer probers or calls a minute, shorter calls, "
            "or a higher share",
        )

"""The voicepop policy pack: the checks of policies/rules.py as CrossGuard policies, each with
its default enforcement level and the properties a team may set in a policy config file
(policies/config.json, given with --policy-pack-config); their defaults are written once, in
the policies' config schemas below."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies import rules
from policies.stack_config import stack_config
from stacks.project import PROJECT_DIR
from stacks.spec.catalogue import load_catalogue
from stacks.spec.routing import load_registry

PACK_NAME = "voicepop"
MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY


def plain_resource(type_: str, name: str, props: Any) -> rules.Resource:
    """A resource's known properties as plain values (pulumi_policy hands secrets over
    decrypted). Values not known during a preview are left out: reading one raises."""
    values: dict[str, Any] = {}
    for key in list(props.keys()):
        try:
            values[key] = _plain(props[key])
        except UnknownValueError:
            continue
    return rules.Resource(type_, name, values)


def _plain(value: Any) -> Any:
    """pulumi_policy's read-only proxies as dicts and lists (reading raises on unknowns)."""
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _report_all(report: ReportViolation, violations: Iterator[str]) -> None:
    for message in violations:
        report(message, None)


ResourceCheck = Callable[[rules.Resource, dict[str, Any]], Iterator[str]]
StackCheck = Callable[[list[rules.Resource], dict[str, Any]], Iterator[str]]
Schema = dict[str, dict[str, Any]]  # property -> JSON schema with its default


def configured(config: Mapping[str, Any] | None, schema: Schema) -> dict[str, Any]:
    """A policy's settings: the team's config file over the schema's defaults. Numbers reach
    the pack as floats (JSON through protobuf): integers are made integers again."""
    values = {name: (config or {}).get(name, spec["default"]) for name, spec in schema.items()}
    return {
        name: int(value) if schema[name]["type"] == "integer" else value
        for name, value in values.items()
    }


def resource_policy(
    name: str, description: str, level: EnforcementLevel, check: ResourceCheck, schema: Schema
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = plain_resource(args.resource_type, args.name, args.props)
        _report_all(report, check(resource, configured(args.get_config(), schema)))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        validate=validate,
        config_schema=_schema(schema),
    )


def stack_policy(
    name: str, description: str, level: EnforcementLevel, check: StackCheck, schema: Schema
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [plain_resource(r.resource_type, r.name, r.props) for r in args.resources]
        _report_all(report, check(resources, configured(args.get_config(), schema)))

    return StackValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        validate=validate,
        config_schema=_schema(schema),
    )


def _schema(properties: Schema) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=properties) if properties else None


def integer(default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "default": default}


def strings(default: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": default}


# Each policy's settings with their defaults: the one place they are written down.
REDUNDANCY: Schema = {"min_servers": integer(2)}
GATED_ENVIRONMENTS: Schema = {"environments": strings(["production", "staging"])}
TTLS: Schema = {"min_ttl_s": integer(20), "max_ttl_s": integer(300)}
APPROVED: Schema = {
    "allowed_os": strings(["debian-12"]),
    "allowed_instance_types": strings(["bm7.std.8", "bm7.std.16", "bm9.std.16"]),
}
ADMIN_RANGES: Schema = {"min_ipv4_prefix_len": integer(16), "min_ipv6_prefix_len": integer(48)}


def policies() -> list[Any]:
    registry = load_registry(PROJECT_DIR)
    return [
        stack_policy(
            "production-server-redundancy",
            "A production PoP has enough servers that one can fail or be drained.",
            MANDATORY,
            lambda res, c: rules.server_redundancy(
                res, stack_config(), "production", c["min_servers"]
            ),
            REDUNDANCY,
        ),
        stack_policy(
            "staging-server-redundancy",
            "A staging PoP has enough servers to rehearse a drain (advisory).",
            ADVISORY,
            lambda res, c: rules.server_redundancy(
                res, stack_config(), "staging", c["min_servers"]
            ),
            REDUNDANCY,
        ),
        stack_policy(
            "pop-sized-for-peak",
            "A PoP that declares its peak carries it with one server out (N+1) and with its "
            "rollout's largest wave out.",
            MANDATORY,
            lambda res, c: rules.sized_for_peak(
                res,
                stack_config(),
                load_catalogue("flexmetal").calls_per_server,
                c["environments"],
            ),
            GATED_ENVIRONMENTS,
        ),
        stack_policy(
            "announced-prefixes-registered",
            "Every announced prefix has a valid ROA and an IRR route object and is no longer "
            "than /24 (IPv4) or /48 (IPv6).",
            MANDATORY,
            lambda res, c: rules.announced_prefixes(stack_config(), registry),
            {},
        ),
        stack_policy(
            "servers-deployed-and-verified",
            "Every server has its host deploy with the whole site, gated by verification.",
            MANDATORY,
            lambda res, c: rules.host_deploys(res, stack_config(), c["environments"]),
            GATED_ENVIRONMENTS,
        ),
        resource_policy(
            "dns-ttl-within-policy",
            "DNS record TTLs are short enough for failover and long enough for resolvers.",
            MANDATORY,
            lambda r, c: rules.dns_ttls(r, c["min_ttl_s"], c["max_ttl_s"]),
            TTLS,
        ),
        resource_policy(
            "no-plain-secrets",
            "No secret (MD5 key, API token) in an input the state keeps in plain text.",
            MANDATORY,
            lambda r, c: rules.plain_secrets(r, stack_config(), rules.SECRET_INPUTS),
            {},
        ),
        stack_policy(
            "secret-config-encrypted",
            "The stack file stores the MD5 keys and the provider token encrypted.",
            MANDATORY,
            lambda res, c: rules.secret_config(stack_config()),
            {},
        ),
        resource_policy(
            "approved-os-and-instance-types",
            "Servers run an approved OS image on an approved instance type.",
            MANDATORY,
            lambda r, c: rules.os_and_instance_type(
                r, c["allowed_os"], c["allowed_instance_types"]
            ),
            APPROVED,
        ),
        resource_policy(
            "ssh-admin-ranges-not-world-open",
            "SSH is open only to admin networks, never to the world.",
            MANDATORY,
            lambda r, c: rules.ssh_admin_ranges(
                r, c["min_ipv4_prefix_len"], c["min_ipv6_prefix_len"]
            ),
            ADMIN_RANGES,
        ),
        stack_policy(
            "servers-health-checked",
            "Across resources: every server has its DNS health check, counted by the PoP's, "
            "and every steered record is gated by one.",
            MANDATORY,
            lambda res, c: rules.health_checked_servers(res),
            {},
        ),
    ]


def serve() -> None:
    PolicyPack(name=PACK_NAME, enforcement_level=ADVISORY, policies=policies())

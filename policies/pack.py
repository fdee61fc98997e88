"""The voicepop policy pack: the checks of policies/rules.py as CrossGuard policies, each with
its default enforcement level and the properties a team may set in a policy config file
(policies/config.json, given with --policy-pack-config)."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
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
from stacks.spec.routing import load_registry

PACK_NAME = "voicepop"
PROJECT_DIR = Path(__file__).resolve().parent.parent
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


ResourceCheck = Callable[[rules.Resource, Mapping[str, Any]], Iterator[str]]
StackCheck = Callable[[list[rules.Resource], Mapping[str, Any]], Iterator[str]]


def resource_policy(
    name: str,
    description: str,
    level: EnforcementLevel,
    check: ResourceCheck,
    schema: dict[str, Any] | None = None,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = plain_resource(args.resource_type, args.name, args.props)
        _report_all(report, check(resource, args.get_config() or {}))

    return ResourceValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        validate=validate,
        config_schema=_schema(schema),
    )


def stack_policy(
    name: str,
    description: str,
    level: EnforcementLevel,
    check: StackCheck,
    schema: dict[str, Any] | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [plain_resource(r.resource_type, r.name, r.props) for r in args.resources]
        _report_all(report, check(resources, args.get_config() or {}))

    return StackValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        validate=validate,
        config_schema=_schema(schema),
    )


def _schema(properties: dict[str, Any] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=properties) if properties else None


STRINGS = {"type": "array", "items": {"type": "string"}}


# Numbers in a policy config file reach the pack as floats (JSON through protobuf): int() them.
def policies() -> list[Any]:
    registry = load_registry(PROJECT_DIR)
    return [
        stack_policy(
            "production-server-redundancy",
            "A production PoP has enough servers that one can fail or be drained.",
            MANDATORY,
            lambda res, c: rules.server_redundancy(
                res, stack_config(), "production", int(c.get("min_servers", 2))
            ),
            {"min_servers": {"type": "integer", "minimum": 1, "default": 2}},
        ),
        stack_policy(
            "staging-server-redundancy",
            "A staging PoP has enough servers to rehearse a drain (advisory).",
            ADVISORY,
            lambda res, c: rules.server_redundancy(
                res, stack_config(), "staging", int(c.get("min_servers", 2))
            ),
            {"min_servers": {"type": "integer", "minimum": 1, "default": 2}},
        ),
        stack_policy(
            "announced-prefixes-registered",
            "Every announced prefix has a valid ROA and an IRR route object and is no longer "
            "than /24 (IPv4) or /48 (IPv6).",
            MANDATORY,
            lambda res, c: rules.announced_prefixes(stack_config(), registry),
        ),
        stack_policy(
            "servers-deployed-and-verified",
            "Every server has its host deploy with the whole site, gated by verification.",
            MANDATORY,
            lambda res, c: rules.host_deploys(
                res, stack_config(), c.get("environments", ["production", "staging"])
            ),
            {"environments": {**STRINGS, "default": ["production", "staging"]}},
        ),
        resource_policy(
            "dns-ttl-within-policy",
            "DNS record TTLs are short enough for failover and long enough for resolvers.",
            MANDATORY,
            lambda r, c: rules.dns_ttls(
                r, int(c.get("min_ttl_s", 20)), int(c.get("max_ttl_s", 300))
            ),
            {
                "min_ttl_s": {"type": "integer", "minimum": 1, "default": 20},
                "max_ttl_s": {"type": "integer", "minimum": 1, "default": 300},
            },
        ),
        resource_policy(
            "no-plain-secrets",
            "No secret (MD5 key, API token) in an input the state keeps in plain text.",
            MANDATORY,
            lambda r, c: rules.plain_secrets(r, stack_config(), rules.SECRET_INPUTS),
        ),
        stack_policy(
            "secret-config-encrypted",
            "The stack file stores the MD5 keys and the provider token encrypted.",
            MANDATORY,
            lambda res, c: rules.secret_config(stack_config()),
        ),
        resource_policy(
            "approved-os-and-instance-types",
            "Servers run an approved OS image on an approved instance type.",
            MANDATORY,
            lambda r, c: rules.os_and_instance_type(
                r,
                c.get("allowed_os", ["debian-12"]),
                c.get("allowed_instance_types", ["bm7.std.8", "bm7.std.16", "bm9.std.16"]),
            ),
            {
                "allowed_os": {**STRINGS, "default": ["debian-12"]},
                "allowed_instance_types": {
                    **STRINGS,
                    "default": ["bm7.std.8", "bm7.std.16", "bm9.std.16"],
                },
            },
        ),
        resource_policy(
            "ssh-admin-ranges-not-world-open",
            "SSH is open only to admin networks, never to the world.",
            MANDATORY,
            lambda r, c: rules.ssh_admin_ranges(
                r, int(c.get("min_ipv4_prefix_len", 16)), int(c.get("min_ipv6_prefix_len", 48))
            ),
            {
                "min_ipv4_prefix_len": {"type": "integer", "minimum": 1, "default": 16},
                "min_ipv6_prefix_len": {"type": "integer", "minimum": 1, "default": 48},
            },
        ),
        stack_policy(
            "servers-health-checked",
            "Across resources: every server has its DNS health check, counted by the PoP's, "
            "and every steered record is gated by one.",
            MANDATORY,
            lambda res, c: rules.health_checked_servers(res),
        ),
    ]


def serve() -> None:
    PolicyPack(name=PACK_NAME, enforcement_level=ADVISORY, policies=policies())

"""A stack's preview as the engine reports it (its JSON event stream: `pulumi preview --json`
with PULUMI_ENABLE_STREAMING_JSON_PREVIEW, or `--event-log`), read into what the comment
shows: the changed resources with their changed properties, the counts, policy results and
the engine's errors. Pure: the events come in as text."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.resources import host_deploy as deploy_command

SECRET = "[secret]"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's marker of a secret value
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown (known after the up)
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced"})
COUNTED = ("create", "update", "replace", "delete", "same")
# values JSON-encoded inside a string property, compared as the structure they hold
JSON_PROPERTIES = frozenset({"host"})


@dataclass(frozen=True)
class PropertyChange:
    path: str  # "host.bgp.prefixes", "records[sbx1.sandbox.voice.test. A]"
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    op: str  # create, update, replace, delete (a replacement's steps folded into one)
    properties: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()  # the properties that force the replacement
    wave: str = ""  # a host deploy's place in its PoP's rollout ("wave 2 of 3"): the spec's

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def host_deploy(self) -> bool:
        return deploy_command.is_host_deploy(self.type, self.name)


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    pack: str
    level: str  # advisory, mandatory, remediate
    message: str
    urn: str = ""


@dataclass
class StackPreview:
    stack: str
    changes: list[ResourceChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    policies: list[PolicyResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the engine's, or why it did not run
    host_changes: list["HostChange"] = field(default_factory=list)
    host_errors: list[str] = field(default_factory=list)
    duration_s: float | None = None
    # every resource's step (unchanged ones too: "same"), by URN, to count what a PoP holds
    ops: dict[str, str] = field(default_factory=dict)
    # the PoP's capacity floor as its spec gives it (deploy.min_in_service), when known
    min_in_service: str | None = None
    # what it is sized by (its spec's capacity.peak_calls and instance type), when known
    peak_calls: int | None = None
    instance_type: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def changed(self) -> bool:
        return bool(self.changes) or bool(self.host_changes)


@dataclass(frozen=True)
class HostChange:
    """An operation the roles would change on a live host (pyinfra's dry run)."""

    host: str
    role: str
    operation: str


def masked(value: Any) -> Any:
    """`value` with every secret as [secret] (the engine masks them; this never relies on it)."""
    if isinstance(value, Mapping):
        if SECRET_SIG in value:
            return SECRET
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def structured(name: str, value: Any) -> Any:
    if name in JSON_PROPERTIES and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _record_key(item: Mapping[str, Any]) -> str:
    parts = [str(item.get(k)) for k in ("name", "type", "set_identifier") if item.get(k)]
    return " ".join(parts)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of records or neighbours by their names, when each has a distinct one."""
    if not items or not all(isinstance(i, Mapping) and i.get("name") for i in items):
        return None
    keyed = {_record_key(item): item for item in items}
    return keyed if len(keyed) == len(items) else None


def leaf_changes(path: str, old: Any, new: Any) -> list[PropertyChange]:
    """The changed leaves between two values: maps by key, named lists by name, equal-length
    lists by index; anything else as a whole."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            change
            for key in sorted(set(old) | set(new), key=str)
            for change in leaf_changes(f"{path}.{key}", old.get(key), new.get(key))
        ]
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            return [
                change
                for key in sorted(set(old_keyed) | set(new_keyed))
                for change in leaf_changes(f"{path}[{key}]", old_keyed.get(key), new_keyed.get(key))
            ]
        if len(old) == len(new) and all(isinstance(i, (Mapping, list)) for i in old + new):
            return [
                change
                for index, (a, b) in enumerate(zip(old, new, strict=True))
                for change in leaf_changes(f"{path}[{index}]", a, b)
            ]
    return [PropertyChange(path, old, new)]


def property_changes(metadata: Mapping[str, Any]) -> tuple[PropertyChange, ...]:
    olds = masked((metadata.get("old") or {}).get("inputs") or {})
    news = masked((metadata.get("new") or {}).get("inputs") or {})
    reported = top_level_names(metadata)
    changes = []
    for name in reported or sorted(set(olds) | set(news)):
        old, new = olds.get(name), news.get(name)
        leaves = leaf_changes(name, structured(name, old), structured(name, new))
        # a secret changed: the engine reports it, its value reads [secret] on both sides
        changes += leaves or ([PropertyChange(name, old, new)] if name in reported else [])
    return tuple(changes)


def top_level_names(metadata: Mapping[str, Any]) -> list[str]:
    """The properties the provider (or the engine) reports as changed."""
    detailed = metadata.get("detailedDiff") or {}
    paths = list(detailed) or list(metadata.get("diffs") or [])
    names = [path.split(".")[0].split("[")[0] for path in paths]
    return list(dict.fromkeys(names))


def folded_op(op: str) -> str:
    return "replace" if op in REPLACE_OPS else op


def stack_preview(stack: str, events: Iterable[str]) -> StackPreview:
    """The preview of `stack` from the engine's events, one JSON document per line."""
    preview = StackPreview(stack)
    seen: dict[str, ResourceChange] = {}
    for line in events:
        if not line.strip().startswith("{"):
            continue
        event = json.loads(line)
        # a refresh's step reports what it found in its outputs event, after a "refresh" pre
        # event; a preview's outputs event repeats its pre event
        step = event.get("resourcePreEvent") or event.get("resOutputsEvent")
        if step is not None:
            metadata = step["metadata"]
            if "urn" in metadata:
                preview.ops.setdefault(metadata["urn"], folded_op(metadata.get("op", "")))
            change = resource_change(metadata)
            if change is not None and change.urn not in seen:
                seen[change.urn] = change
        elif "policyEvent" in event:
            preview.policies.append(policy_result(event["policyEvent"]))
        elif "diagnosticEvent" in event:
            diagnostic = event["diagnosticEvent"]
            if diagnostic.get("severity") == "error":
                preview.errors.append(diagnostic.get("message", "").strip())
        elif "summaryEvent" in event:
            summary = event["summaryEvent"]
            preview.counts = counts(summary.get("resourceChanges") or {})
            preview.duration_s = summary.get("durationSeconds")
    preview.changes = sorted(seen.values(), key=lambda c: (c.type, c.name))
    return preview


def resource_change(metadata: Mapping[str, Any]) -> ResourceChange | None:
    op = folded_op(metadata.get("op", ""))
    if op in ("same", "read", "refresh") or metadata.get("type") == "pulumi:pulumi:Stack":
        return None
    kind, name = metadata.get("type", ""), metadata["urn"].rsplit("::")[-1]
    if deploy_command.is_attempt_marker(kind, name):
        return None  # counted, not listed: its deploy's row says what changes on the host
    if deploy_command.is_host_deploy(kind, name):
        metadata = as_deploy(metadata)
    return ResourceChange(
        urn=metadata["urn"],
        type=metadata.get("type", ""),
        op=op,
        properties=property_changes(metadata) if op in ("update", "replace") else (),
        replace_reasons=tuple(metadata.get("keys") or ()) if op == "replace" else (),
    )


# a host deploy's Command shown as what it deploys: its variables by the names of the deploy
DEPLOY_NAMES = {
    deploy_command.HOST: "host",
    deploy_command.TRIGGER: "trigger",
    deploy_command.SFU_DIGEST: "sfu_digest",
    deploy_command.SETTLE_S: "settle_s",
    deploy_command.TIMEOUT_S: "timeout_s",
    deploy_command.SIMULATE: "simulate",
    deploy_command.REDEPLOY: "redeploy",
    deploy_command.ATTEMPT: "attempt",
}
COMMAND_NAMES = {"triggers": "address"}  # its one trigger: the server's address


def deploy_name(variable: str) -> str:
    if variable.startswith(deploy_command.SECRET_PREFIX):
        return "secrets." + variable.removeprefix(deploy_command.SECRET_PREFIX)
    return DEPLOY_NAMES.get(variable, variable)


def deploy_path(path: str) -> str:
    """`environment.VOICEPOP_TRIGGER` → `trigger`; `triggers[0]` → `address`."""
    head, _, rest = path.partition(".")
    if head == "environment" and rest:
        return deploy_name(rest)
    base = head.split("[")[0]
    return COMMAND_NAMES.get(base, path)


def deploy_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    environment = inputs.get("environment")
    if not isinstance(environment, Mapping):
        return {}
    shown: dict[str, Any] = {}
    for variable, value in environment.items():
        name = deploy_name(variable)
        if name.startswith("secrets."):
            shown.setdefault("secrets", {})[name.removeprefix("secrets.")] = value
        else:
            shown[name] = value
    return shown


def as_deploy(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A host deploy's step with the Command's environment read as the deploy's inputs."""
    shown = dict(metadata)
    for side in ("old", "new"):
        if isinstance(metadata.get(side), Mapping):
            state = dict(metadata[side])
            state["inputs"] = deploy_inputs(state.get("inputs") or {})
            shown[side] = state
    detailed = metadata.get("detailedDiff") or {}
    shown["detailedDiff"] = {deploy_path(path): diff for path, diff in detailed.items()}
    shown["diffs"] = [deploy_path(path) for path in metadata.get("diffs") or []]
    shown["keys"] = [deploy_path(path) for path in metadata.get("keys") or []]
    return shown


def policy_result(event: Mapping[str, Any]) -> PolicyResult:
    return PolicyResult(
        policy=event.get("policyName", ""),
        pack=event.get("policyPackName", ""),
        level=event.get("enforcementLevel", ""),
        message=event.get("message", "").strip(),
        urn=event.get("resourceUrn", ""),
    )


def counts(changes: Mapping[str, int]) -> dict[str, int]:
    folded: dict[str, int] = dict.fromkeys(COUNTED, 0)
    for op, count in changes.items():
        key = folded_op(op)
        if key in folded:
            folded[key] += count
    return folded

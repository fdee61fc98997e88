"""The pull-request comment: one Markdown document for every previewed stack. Counts first,
then the dangerous changes, then per stack the changed resources with their changed
properties, what the roles would change on the hosts and the policy results, the full detail
folded. It never exceeds GitHub's limit: the least important detail goes first, and the
comment says what went. Pure: previews in, text out."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ops.preview.capacity import SFU_DIGEST, capacity_effect, capacity_line
from ops.preview.danger import dangers, grouped
from ops.preview.events import (
    COUNTED,
    UNKNOWN,
    PropertyChange,
    ResourceChange,
    StackPreview,
)

GITHUB_LIMIT = 65_536
MARKER = "<!-- voicepop-preview -->"  # finds the comment again to edit it in place
VALUE_WIDTH = 120  # a property value longer than this is cut in the tables
NOTE_RESERVE = 1_000
TRIGGER = "trigger"  # room kept for the note that says what was trimmed
# a digest and the attempt's id: the rollout line says what they mean
UNSHOWN_DEPLOY_INPUTS = (SFU_DIGEST, "attempt")

# what goes first when the comment is too long (lowest first); counts and dangers never go
FULL_DETAIL, HOST_DETAIL, PROPERTIES, POLICIES, RESOURCES = range(5)
WHAT_IS_TRIMMED = {
    FULL_DETAIL: "the full detail",
    HOST_DETAIL: "the host changes per operation",
    PROPERTIES: "the changed properties",
    POLICIES: "the policy results",
    RESOURCES: "the changed resources",
}


@dataclass(frozen=True)
class Section:
    text: str
    trim_rank: int | None = None  # None: never trimmed
    stack: str = ""


def render(
    previews: Sequence[StackPreview], commands: Sequence[str] = (), limit: int = GITHUB_LIMIT
) -> str:
    sections = [
        Section(f"{MARKER}\n## Pulumi preview\n"),
        Section(counts_table(previews)),
        *danger_sections(previews),
        *(section for preview in previews for section in stack_sections(preview)),
        Section(footer(commands)),
    ]
    return trimmed(sections, limit)


def nothing_to_preview() -> str:
    return f"{MARKER}\n## Pulumi preview\n\nThis change touches no stack: nothing to preview.\n"


def trimmed(sections: list[Section], limit: int) -> str:
    text = "\n".join(s.text for s in sections)
    if len(text) <= limit:
        return text
    budget = limit - NOTE_RESERVE
    kept = list(sections)
    dropped: dict[int, list[str]] = {}
    for rank in sorted(WHAT_IS_TRIMMED):
        # within a rank, the longest sections go first
        for section in sorted((s for s in kept if s.trim_rank == rank), key=lambda s: -len(s.text)):
            if len("\n".join(s.text for s in kept)) <= budget:
                break
            kept.remove(section)
            dropped.setdefault(rank, []).append(section.stack)
    note = trim_note(dropped, {s.stack for s in sections if s.stack})
    text = "\n".join(s.text for s in [*kept[:2], Section(note), *kept[2:]])
    if len(text) > limit:  # counts and dangers alone: cut at a line, and say so
        cut = text[: limit - 200].rsplit("\n", 1)[0]
        text = cut + "\n\n_… cut here: the comment would exceed GitHub's limit._\n"
    return text


def trim_note(dropped: dict[int, list[str]], every: set[str]) -> str:
    def of(stacks: list[str]) -> str:
        named = sorted(set(stacks))
        return "every stack" if set(named) >= every else ", ".join(named)

    parts = [f"{WHAT_IS_TRIMMED[rank]} ({of(stacks)})" for rank, stacks in sorted(dropped.items())]
    return (
        f"> [!NOTE]\n> Trimmed to fit GitHub's {GITHUB_LIMIT:,} characters: "
        + "; ".join(parts)
        + ". The footer's commands show all of it.\n"
    )


# --- the summary --------------------------------------------------------------------------


def counts_table(previews: Sequence[StackPreview]) -> str:
    header = "| Stack | " + " | ".join(COUNTED) + " | policies | |\n"
    header += "|---|" + "---:|" * len(COUNTED) + "---:|---|\n"
    rows = [count_row(preview) for preview in previews]
    return header + "\n".join(rows) + "\n"


def count_row(preview: StackPreview) -> str:
    violations = [p for p in preview.policies if p.level == "mandatory"]
    if preview.failed:
        status = (
            f"⛔ {len(violations)} mandatory policy violation(s)"
            if violations
            else "❌ preview failed"
        )
        return (
            f"| `{preview.stack}` |"
            + " - |" * len(COUNTED)
            + f" {len(violations) or '-'} | {status} |"
        )
    cells = [str(preview.counts.get(op, 0)) for op in COUNTED]
    policies = str(len(preview.policies)) if preview.policies else "-"
    found = grouped(dangers(preview))
    if violations:
        status = f"⛔ {len(violations)} mandatory policy violation(s)"
    elif found:
        status = f"⚠️ {len(found)} dangerous change(s)"
    elif not preview.changed:
        status = "✅ no changes"
    else:
        status = "changes"
    return f"| `{preview.stack}` | " + " | ".join(cells) + f" | {policies} | {status} |"


def danger_sections(previews: Sequence[StackPreview]) -> list[Section]:
    lines = []
    for preview in previews:
        for (kind, detail), resources in grouped(dangers(preview)).items():
            lines.append(f"- **{preview.stack}**: **{kind}**: {detail} — {on(resources)}")
    if not lines:
        return []
    return [Section("### ⚠️ Dangerous changes\n\n" + "\n".join(lines) + "\n")]


def on(resources: Sequence[str]) -> str:
    names = sorted(set(resources))
    shown = ", ".join(f"`{n}`" for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


# --- per stack ----------------------------------------------------------------------------


def stack_sections(preview: StackPreview) -> list[Section]:
    stack = preview.stack
    if preview.failed:
        error = "\n".join(preview.errors)
        failed = [Section(f"### `{stack}`: preview failed\n\n```\n{error}\n```\n")]
        if preview.policies:  # a mandatory policy fails the preview: say which
            failed.append(Section(policies_table(preview), POLICIES, stack))
        return failed
    if not preview.changed and not preview.policies:
        return [Section(f"### `{stack}`: no changes\n")]
    sections = [Section(f"### `{stack}`\n")]
    if preview.changes:
        sections.append(Section(resources_table(preview.changes), RESOURCES, stack))
        rollout = rollout_line(preview.changes)
        if rollout:
            sections.append(Section(rollout))
        effect = capacity_effect(preview)
        if effect is not None:
            sections.append(Section(capacity_line(stack, effect)))
        properties = properties_list(preview.changes)
        if properties:
            sections.append(Section(properties, PROPERTIES, stack))
    if preview.host_changes or preview.host_errors:
        sections.extend(host_sections(preview))
    if preview.policies:
        sections.append(Section(policies_table(preview), POLICIES, stack))
    sections.append(Section(full_detail(preview), FULL_DETAIL, stack))
    return sections


def resources_table(changes: Sequence[ResourceChange]) -> str:
    rows = [
        f"| {op_mark(c.op)} {c.op} | `{c.name}` | `{c.type}` | "
        + ", ".join(f"`{n}`" for n in changed_names(c))
        + " |"
        for c in sorted(changes, key=lambda c: (op_order(c.op), c.type, c.name))
    ]
    return "| Operation | Resource | Type | Changed |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def rollout_line(changes: Sequence[ResourceChange]) -> str:
    """Which host deploys run in which wave of the PoP's rollout, and which drain first."""
    waves: dict[str, list[str]] = {}
    draining: set[str] = set()
    for change in changes:
        if change.host_deploy and change.wave and change.op != "delete":
            waves.setdefault(change.wave, []).append(change.name.removesuffix("-deploy"))
            if any(p.path == SFU_DIGEST for p in change.properties):
                draining.add(change.wave)
    if not waves:
        return ""
    listed = "; ".join(
        f"{label}: {on(servers)}"
        + (" (drained first: the SFU restarts)" if label in draining else "")
        for label, servers in sorted(waves.items(), key=lambda item: wave_number(item[0]))
    )
    return f"**Rollout**, each wave after the one before passed its gate: {listed}\n"


def wave_number(label: str) -> int:
    words = label.split()
    return int(words[1]) if len(words) > 1 and words[1].isdigit() else 0


def changed_names(change: ResourceChange) -> list[str]:
    names = [p.path.split(".")[0].split("[")[0] for p in shown_properties(change)]
    return list(dict.fromkeys([*change.replace_reasons, *names]))


def op_order(op: str) -> int:
    return {"delete": 0, "replace": 1, "create": 2, "update": 3}.get(op, 4)


def op_mark(op: str) -> str:
    return {"delete": "🔴", "replace": "🟠", "create": "🟢", "update": "🟡"}.get(op, "")


def properties_list(changes: Sequence[ResourceChange]) -> str:
    """Each changed property once, with the resources it changes on (a knob changed on every
    host of a PoP is one line)."""
    on_resources: dict[tuple[str, str, str], list[str]] = {}
    for change in changes:
        for prop in shown_properties(change):
            key = (prop.path, value(prop.old), value(prop.new))
            on_resources.setdefault(key, []).append(change.name)
    lines = [
        f"- `{path}`: {old} → {new} — {on(names)}"
        for (path, old, new), names in on_resources.items()
    ]
    if not lines:
        return ""
    return "<details><summary>Changed properties ({})</summary>\n\n{}\n</details>\n".format(
        len(lines), "\n".join(lines)
    )


def shown_properties(change: ResourceChange) -> list[PropertyChange]:
    """A deploy's trigger is a digest: shown only when nothing else says why it changed (the
    roles or the verification suites did)."""
    if not change.host_deploy:
        return list(change.properties)
    shown = [p for p in change.properties if p.path not in UNSHOWN_DEPLOY_INPUTS]
    if not any(p.path == TRIGGER for p in shown):
        return shown
    others = [p for p in shown if p.path != TRIGGER]
    return others or [PropertyChange(TRIGGER, "…", "the roles or the verification suites")]


def value(raw: Any) -> str:
    if raw is None:
        return "_(none)_"
    text = raw if isinstance(raw, str) else compact(raw)
    if text == UNKNOWN:
        return "_(known after up)_"
    if len(text) > VALUE_WIDTH:
        text = text[: VALUE_WIDTH - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def compact(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)


def host_sections(preview: StackPreview) -> list[Section]:
    by_role: dict[tuple[str, str], set[str]] = {}
    for change in preview.host_changes:
        by_role.setdefault((change.role, change.operation), set()).add(change.host)
    hosts = sorted({c.host for c in preview.host_changes})
    summary = (
        f"**On the hosts** (the roles' dry run): {len(by_role)} operation(s) would change "
        f"on {len(hosts)} host(s).\n"
    )
    if preview.host_errors:
        summary += "".join(f"\n- ❌ {error}" for error in preview.host_errors) + "\n"
    rows = [
        f"| {role} | {operation} | {on(sorted(names))} |"
        for (role, operation), names in sorted(by_role.items())
    ]
    table = "| Role | Operation | Hosts |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    detail = "<details><summary>Host changes per operation</summary>\n\n" + table + "</details>\n"
    return (
        [Section(summary), Section(detail, HOST_DETAIL, preview.stack)]
        if rows
        else [Section(summary)]
    )


def policies_table(preview: StackPreview) -> str:
    rows = [
        f"| {'⛔' if p.level == 'mandatory' else '🔸'} {p.level} | {p.pack}/{p.policy} | "
        f"{('`' + p.urn.rsplit('::', 1)[-1] + '`') if p.urn else 'stack'} | "
        f"{violation_of(p.message)} |"
        for p in preview.policies
    ]
    return "**Policies**\n\n| Level | Policy | Resource | Message |\n|---|---|---|---|\n" + (
        "\n".join(rows) + "\n"
    )


def violation_of(message: str) -> str:
    """The engine's policy message is the policy's description, then the violation."""
    lines = message.splitlines()
    return " ".join(lines[1:] if len(lines) > 1 else lines).replace("|", "\\|")


def full_detail(preview: StackPreview) -> str:
    lines = []
    for change in preview.changes:
        lines.append(f"{change.op} {change.type} {change.name}")
        lines.extend(
            f"    {p.path}: {compact(p.old)} => {compact(p.new)}" for p in change.properties
        )
    for host_change in preview.host_changes:
        lines.append(f"host {host_change.host}: {host_change.role} | {host_change.operation}")
    body = "\n".join(lines).replace("```", "'''")
    return f"<details><summary>Full detail</summary>\n\n```\n{body}\n```\n</details>\n"


def footer(commands: Iterable[str]) -> str:
    listed = "".join(f"\n- `{command}`" for command in commands)
    return "---\nReproduce:" + listed + "\n" if listed else "---\n"

"""The one shape of the project's provider plugins: a plugin is a set of resource handlers,
one per resource type, each with its Schema; `PluginProvider` is the Pulumi provider that
dispatches the engine's calls to them. It turns the engine's values into plain Python values
and back (outputs merged over inputs, secrets marked secret), moves a state written before
the plugins' names were snake_case to the current names, and answers previews with what the
handlers plan. The handlers hold only what is their own: API calls and which changes
replace."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from plugins.properties import (
    COMPUTED,
    engine_values,
    plain_map,
    property_diff,
    provider_settings,
    type_of,
)
from stacks.resources.schema import Schema, with_current_names

Setting = Callable[[str], str]


@dataclass(frozen=True)
class Call:
    urn: str
    timeout_s: float = 0.0  # the resource's customTimeouts option; 0 when it has none

    def timeout(self, default_s: float) -> float:
        """A customTimeouts option on the resource wins over the provider's default."""
        return self.timeout_s if self.timeout_s > 0 else default_s


@dataclass(frozen=True)
class Changes:
    changed: list[str]
    replace_on: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Observed:
    """What a read found, merged over what the state has: inputs as they are now (what the
    next diff compares with the program's) and outputs."""

    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


class ResourceHandlers:
    """One resource type's handlers. The defaults: required inputs present; any changed input
    updates in place unless it is in `replace_on`; a preview's outputs unknown until created
    and kept on update; reads observe nothing; update and delete have nothing to do."""

    schema: Schema
    replace_on: tuple[str, ...] = ()

    def check(self, news: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [
            (name, f"{name} is required")
            for name in self.schema.required
            if news.get(name) in (None, "", [])
        ]

    def comparable(self, name: str, value: Any) -> Any:
        """`value` as a diff compares it (a list kept in no order compares sorted)."""
        return value

    def changed_inputs(
        self, olds: Mapping[str, Any], news: Mapping[str, Any], names: Iterable[str]
    ) -> list[str]:
        """Those of `names` whose new value differs from the old one, or is not known yet."""
        return [
            name
            for name in names
            if news.get(name) is COMPUTED
            or self.comparable(name, olds.get(name)) != self.comparable(name, news.get(name))
        ]

    def diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Changes:
        changed = self.changed_inputs(olds, news, self.schema.inputs)
        return Changes(changed, [name for name in changed if name in self.replace_on])

    def planned_create(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return dict.fromkeys(self.schema.outputs, COMPUTED)

    async def create(self, call: Call, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The new resource's id and outputs."""
        raise NotImplementedError

    async def read(
        self, resource_id: str, state: dict[str, Any], inputs: dict[str, Any]
    ) -> Observed | None:
        """What is there now; None when it is gone (the refresh drops it from the state)."""
        return Observed()

    def kept_outputs(self, olds: Mapping[str, Any]) -> dict[str, Any]:
        return {name: olds.get(name) for name in self.schema.outputs}

    def planned_update(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        return self.kept_outputs(olds)

    async def update(
        self, call: Call, resource_id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        """The outputs after the change."""
        return self.kept_outputs(olds)

    async def delete(self, call: Call, resource_id: str, state: dict[str, Any]) -> None:
        return None


class PluginProvider(Provider):
    def __init__(
        self,
        package: str,
        handlers: Iterable[ResourceHandlers],
        configure: Callable[[Setting], None] | None = None,
    ) -> None:
        self._package = package
        self._handlers = {h.schema.token: h for h in handlers}
        self._on_configure = configure

    def _for(self, urn: str) -> ResourceHandlers:
        token = type_of(urn)
        if token not in self._handlers:
            raise ValueError(f"the {self._package} plugin has no {token}: {sorted(self._handlers)}")
        return self._handlers[token]

    def _engine(self, handlers: ResourceHandlers, values: Mapping[str, Any]) -> dict[str, Any]:
        return engine_values(values, handlers.schema.secret)

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        if self._on_configure is not None:
            self._on_configure(provider_settings(request, self._package))
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    async def check(self, request: CheckRequest) -> CheckResponse:
        failures = self._for(request.urn).check(plain_map(request.new_inputs))
        return CheckResponse(
            inputs=request.new_inputs, failures=[CheckFailure(n, r) for n, r in failures]
        )

    async def diff(self, request: DiffRequest) -> DiffResponse:
        handlers = self._for(request.urn)
        olds, moved = with_current_names(handlers.schema, plain_map(request.old_state))
        news = plain_map(request.new_inputs)
        ignored = set(request.ignore_changes)
        changes = handlers.diff(olds, news)
        changed = [name for name in changes.changed if name not in ignored]
        replace_on = [name for name in changes.replace_on if name in changed]
        renamed = [name for name in moved if name not in changed]
        return property_diff(changed, replace_on, renamed=renamed)

    async def create(self, request: CreateRequest) -> CreateResponse:
        handlers = self._for(request.urn)
        inputs = plain_map(request.properties)
        if request.preview:
            planned = {**inputs, **handlers.planned_create(inputs)}
            return CreateResponse(properties=self._engine(handlers, planned))
        call = Call(request.urn, request.timeout or 0.0)
        resource_id, outputs = await handlers.create(call, inputs)
        return CreateResponse(resource_id, self._engine(handlers, {**inputs, **outputs}))

    async def read(self, request: ReadRequest) -> ReadResponse:
        handlers = self._for(request.urn)
        state, _ = with_current_names(handlers.schema, plain_map(request.properties))
        inputs, _ = with_current_names(handlers.schema, plain_map(request.inputs))
        observed = await handlers.read(request.resource_id, state, inputs)
        if observed is None:
            return ReadResponse()
        return ReadResponse(
            request.resource_id,
            self._engine(handlers, {**state, **observed.inputs, **observed.outputs}),
            self._engine(handlers, {**inputs, **observed.inputs}),
        )

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        handlers = self._for(request.urn)
        olds, _ = with_current_names(handlers.schema, plain_map(request.olds))
        news = plain_map(request.news)
        if request.preview:
            outputs = handlers.planned_update(olds, news)
        else:
            call = Call(request.urn, request.timeout or 0.0)
            outputs = await handlers.update(call, request.resource_id, olds, news)
        return UpdateResponse(self._engine(handlers, {**news, **outputs}))

    async def delete(self, request: DeleteRequest) -> None:
        handlers = self._for(request.urn)
        state, _ = with_current_names(handlers.schema, plain_map(request.properties))
        await handlers.delete(Call(request.urn, request.timeout or 0.0), request.resource_id, state)

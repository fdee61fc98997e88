"""The stack's configuration inside the policy pack.

The engine hands a pack the stack's (decrypted) config and which keys are secret in its
ConfigureStack call when it runs the pack through the language host's RunPlugin, as it does
here; pulumi_policy 1.21 keeps only the stack's tags from that call and reads config from
PULUMI_CONFIG, which only the engine's older way of starting packs sets. `receive_stack_config`
keeps the config from the call as well, so policies that read it work either way.
"""

import json
import os
from typing import Any

from pulumi_policy import policy as crossguard

from policies.rules import StackConfig

_received: list[StackConfig] = []


def receive_stack_config() -> None:
    servicer = crossguard._PolicyAnalyzerServicer
    keep_tags = servicer.ConfigureStack

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        _received[:] = [StackConfig(dict(request.config), frozenset(request.config_secret_keys))]
        return keep_tags(self, request, context)

    servicer.ConfigureStack = configure_stack  # type: ignore[method-assign,assignment]


def stack_config() -> StackConfig:
    if _received:
        return _received[0]
    values = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    secret_keys = json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS") or "[]")
    return StackConfig(values, frozenset(secret_keys))

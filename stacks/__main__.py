"""The stack program: read this stack's PoP spec and build its VoicePop."""

import os
from pathlib import Path

from stacks.process_start import collect_cycles_less_often

collect_cycles_less_often()

import pulumi  # noqa: E402 (imported already, by the language host that runs this program)

from stacks.deploy.redeploy import (  # noqa: E402
    REDEPLOY_ENV,
    UnknownServers,
    redeploy_requests,
    redeploy_token,
)
from stacks.noc import noc_document  # noqa: E402
from stacks.pop import StackIdentity, VoicePop  # noqa: E402
from stacks.spec import SpecInvalid, pop_from_stack_config  # noqa: E402
from stacks.spec.routing import load_registry  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent

if not os.environ.get("VOICEPOP_SDK_DEBUG_LOGS"):
    # The SDK sends each of its debug lines to the engine as a blocking call (some 430 for a
    # PoP of 20 servers, a fifth of the program's time and more of the engine's), which shows
    # them only with -v: the program sends them only when asked (VOICEPOP_SDK_DEBUG_LOGS=1).
    pulumi.log.debug = lambda *args, **kwargs: None

identity = StackIdentity(pulumi.get_project(), pulumi.get_stack(), PROJECT_DIR)
try:
    spec = pop_from_stack_config(PROJECT_DIR, identity.stack)
    requested = redeploy_requests(os.environ.get(REDEPLOY_ENV, ""), spec.server_names)
    token = redeploy_token()
    pop = VoicePop(spec, identity, redeploy=dict.fromkeys(requested, token))
except (SpecInvalid, UnknownServers) as invalid:
    # RunError reports the message alone, without a Python traceback.
    raise pulumi.RunError(str(invalid)) from None

pulumi.export("pop", pop.summary)
# each server's last deploy and verification (empty when the spec turns the deploy off)
pulumi.export("deploys", pop.deploys)
# FlexMetal has no BGP API: what its NOC must configure is an output of the stack
registry = load_registry(PROJECT_DIR)
pulumi.export(
    "noc",
    pop.summary.apply(
        lambda summary: noc_document(
            spec, registry, {name: server["address"] for name, server in summary["servers"].items()}
        )
    ),
)

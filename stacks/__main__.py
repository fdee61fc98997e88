"""The stack program: read this stack's PoP spec and build its VoicePop."""

import os

from stacks.process_start import start_program

start_program()  # before the imports below (stacks/process_start.py)

import pulumi  # noqa: E402 (imported already, by the language host that runs this program)

from stacks.noc import noc_document  # noqa: E402
from stacks.pop import StackIdentity, VoicePop  # noqa: E402
from stacks.project import PROJECT_DIR  # noqa: E402
from stacks.rollout.redeploy import (  # noqa: E402
    REDEPLOY_ENV,
    UnknownServers,
    redeploy_requests,
    redeploy_token,
)
from stacks.spec import SpecInvalid, pop_from_stack_config  # noqa: E402
from stacks.spec.routing import load_registry  # noqa: E402

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

"""The stack program: read this stack's PoP spec and build its VoicePop."""

from pathlib import Path

import pulumi

from stacks.pop import VoicePop
from stacks.spec import SpecInvalid, pop_from_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent

try:
    spec = pop_from_stack_config(PROJECT_DIR, pulumi.get_stack())
except SpecInvalid as invalid:
    # RunError reports the message alone, without a Python traceback.
    raise pulumi.RunError(str(invalid)) from None

pop = VoicePop(spec)
pulumi.export("pop", pop.summary)

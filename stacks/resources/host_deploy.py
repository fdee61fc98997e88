"""Each server's host deploy as a `pulumi_command.local.Command`: what the program gives it and
what the deploy command (`python -m deploy`, deploy/command.py) reads, named once here.

The Command runs `deploy/bin/host-deploy up` when it is created and when its environment
changes (the trigger, the SFU digest, the secrets, a repair's token), and
`deploy/bin/host-deploy leave` when it is deleted. The command's standard output is one JSON
document, the run's figures (`deploys` in the stack's outputs); its standard error is the
progress, streamed to the engine beside the resource. A new address is another server: the
Command is replaced (its `triggers`), so the old server is drained before its release. Its
wave is not an input: the waves are its dependencies, and a server that only moves to another
wave (one added or removed elsewhere in the PoP) has nothing to do; the preview labels waves
from the spec, as the program orders them (stacks/rollout/waves.py). No Pulumi imports: the
preview and the policy pack read these names too."""

from roles.secrets import PREFIX

SECRET_PREFIX = PREFIX  # + a config key: the roles read them (roles/secrets.py)

COMMAND_TYPE = "command:local:Command"
RESOURCE_SUFFIX = "-deploy"  # `<server>-deploy`: a server's host deploy among other Commands
ATTEMPT_SUFFIX = "-attempt"  # `<server>-attempt`: the deploy's attempt marker (below)

# Relative: the engine starts every plugin, the command's provider too, in the program's folder
# (Pulumi.yaml's main: stacks/), and a path of one checkout in the state would re-run every
# deploy from another checkout.
LAUNCHER = "../deploy/bin/host-deploy"
CREATE = f"{LAUNCHER} up"
UPDATE = CREATE
DELETE = f"{LAUNCHER} leave"
# The attempt marker: a Command of its own beside each deploy, which prints a new id whenever
# what the deploy must do changes (its trigger, SFU digest or secrets). The deploy carries the
# id; a failed deploy leaves the state as it was (the engine keeps a failed update's old
# inputs), so its id differs from the marker's until a run succeeds: the next `pulumi up`
# deploys a failed host again, even when the change that failed was reverted.
MARK = f"{LAUNCHER} attempt"

HOST = "VOICEPOP_HOST"  # the host's entry as JSON text
TRIGGER = "VOICEPOP_TRIGGER"  # stacks/rollout/trigger.py: what shapes the host and proves it
SFU_DIGEST = "VOICEPOP_SFU_DIGEST"  # a change restarts the SFU: the server is drained first
SETTLE_S = "VOICEPOP_SETTLE_S"
TIMEOUT_S = "VOICEPOP_TIMEOUT_S"
SIMULATE = "VOICEPOP_SIMULATE"  # "1": nothing runs on the host (a simulated fleet's servers)
ATTEMPT = "VOICEPOP_ATTEMPT"  # the attempt marker's id
REDEPLOY = "VOICEPOP_REDEPLOY"  # the drift repair's token: a new one deploys again, drained

IGNORED_UNLESS_GIVEN = f'environment["{REDEPLOY}"]'  # a run without a repair asks nothing


def environment_path(variable: str) -> str:
    """A variable's property path in the engine's diffs (`environment.VOICEPOP_WAVE`)."""
    return f"environment.{variable}"


def is_host_deploy(resource_type: str, name: str) -> bool:
    return resource_type == COMMAND_TYPE and name.endswith(RESOURCE_SUFFIX)


def is_attempt_marker(resource_type: str, name: str) -> bool:
    return resource_type == COMMAND_TYPE and name.endswith(ATTEMPT_SUFFIX)

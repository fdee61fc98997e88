"""The vpdeploy plugin's properties, for the plugin and the stack program alike."""

from stacks.resources.schema import Schema

PACKAGE = "vpdeploy"

PROVIDER = Schema(f"pulumi:providers:{PACKAGE}", inputs=())

HOST_DEPLOY = Schema(
    f"{PACKAGE}:index:HostDeploy",
    # host: the inventory entry as JSON; settle_s, timeout_s: the PoP spec's deploy section;
    # sfu_digest: what the SFU's configuration is made of (a change drains the server first);
    # wave: its place in the PoP's rolling deploy, for previews and logs
    # simulate: nothing runs on the host (a simulated fleet's servers have none)
    # redeploy: a token set by the drift repair (VOICEPOP_REDEPLOY): a new one re-runs the
    # deploy, drained; none (every other run) is no change
    inputs=(
        "host",
        "trigger",
        "sfu_digest",
        "wave",
        "secrets",
        "settle_s",
        "timeout_s",
        "simulate",
        "redeploy",
    ),
    outputs=(
        "changed_operations",
        "checks_passed",
        "deploy_seconds",
        "verify_seconds",
        "call_mos",  # the synthetic call's MOS (None: the spec switched the call gate off)
        "call_seconds",
        "drained",  # the last run drained the server for an SFU restart (and returned it)
        "left_drained",  # a failed run left it drained: the next run returns it to service
        "deployed_at",
        # which deploy owns the host (written there at each run): the delete of a deploy that
        # a newer one of the same host superseded (`pulumi up --replace`) drains nothing
        "owner",
    ),
    required=("host", "trigger", "settle_s", "timeout_s"),
    secret=("secrets",),
)
RERUN_ON = ("trigger", "secrets")  # what re-runs the deploy; other changes only restate it
NOT_A_CHANGE = ("wave",)  # a server moved to another wave: nothing to do on the host
REDEPLOY = "redeploy"

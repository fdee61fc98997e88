"""The vpdeploy plugin's properties, for the plugin and the stack program alike."""

from stacks.providers.schema import Schema

PACKAGE = "vpdeploy"

PROVIDER = Schema(f"pulumi:providers:{PACKAGE}", inputs=())

HOST_DEPLOY = Schema(
    f"{PACKAGE}:index:HostDeploy",
    # host: the inventory entry as JSON; settle_s, timeout_s: the PoP spec's deploy section
    inputs=("host", "trigger", "secrets", "settle_s", "timeout_s"),
    outputs=(
        "changed_operations",
        "checks_passed",
        "deploy_seconds",
        "verify_seconds",
        "call_mos",  # the synthetic call's MOS (None: the spec switched the call gate off)
        "call_seconds",
        "deployed_at",
    ),
    required=("host", "trigger", "settle_s", "timeout_s"),
    secret=("secrets",),
)
RERUN_ON = ("trigger", "secrets")  # what re-runs the deploy; other changes only restate it

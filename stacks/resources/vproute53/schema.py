"""The vproute53 plugin's properties, for the plugin and the stack program alike."""

from stacks.resources.schema import Schema

PACKAGE = "vproute53"

PROVIDER = Schema(f"pulumi:providers:{PACKAGE}", inputs=("endpoint",))  # empty: AWS

ZONE = Schema(
    f"{PACKAGE}:index:Zone",
    inputs=("name", "create"),
    outputs=("zone_id",),
    required=("name",),
)
HEALTH_CHECK = Schema(
    f"{PACKAGE}:index:HealthCheck",
    inputs=(
        "key",
        "kind",
        "address",
        "port",
        "path",
        "name",
        "interval_s",
        "failure_threshold",
        "child_ids",
    ),
    outputs=("health_check_id",),
    required=("key", "kind"),
)
HEALTH_CHECK_REPLACE_ON = ("kind", "interval_s")  # Route 53 cannot change them in place
RECORD_SETS = Schema(
    f"{PACKAGE}:index:RecordSets",
    inputs=("zone_id", "records", "health_check_ids"),
    required=("zone_id", "records"),
)

"""The PoP the anycast tests share: two container hosts of the sandbox PoP, deployed once with
the site roles and a quick health gate, announcing to the sandbox's upstream router."""

HOSTS = (("sbx1-sfu01", "bm7.std.8"), ("sbx1-sfu02", "bm7.std.8"))  # containers
ANYCAST = "198.18.10.0/24"
# a failed SFU is withdrawn ~2 s after it died (production: the spec's own timers)
HEALTH = {"interval_s": 1, "timeout_s": 0.5, "fall": 2, "rise": 2}
DRAIN_WAIT_S = 3
# the one web origin whose pages may call the SFUs (the browser test serves its page there)
ALLOWED_ORIGIN = "http://127.0.0.1:47913"
# the sandbox spec's changes for this PoP (sandbox_spec(test_sandbox, **SPEC_CHANGES))
SPEC_CHANGES = {
    "bgp__health": HEALTH,
    "bgp__drain_wait_s": DRAIN_WAIT_S,
    "sfu__allowed_origin": ALLOWED_ORIGIN,
}

# the media gate's agents follow the folder's prober inside the PoP, asking every second; a
# verdict 30 s old is stale (the prober is only up during test_mesh.py)
MEDIA_GATE_POLL_S = 1
MEDIA_GATE_STALE_AFTER_S = 30


def media_gate_changes(source: str) -> dict[str, object]:
    return {
        "anycast__media_gate_sources": [source],
        "anycast__media_gate_poll_s": MEDIA_GATE_POLL_S,
        "anycast__media_gate_stale_after_s": MEDIA_GATE_STALE_AFTER_S,
    }

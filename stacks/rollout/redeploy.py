"""Hosts to deploy again although nothing in the spec or the code changed: the drift repair
(`make repair`) names them in VOICEPOP_REDEPLOY, and the program gives each a new redeploy
token, which re-runs its deploy (drained, in its wave, with the usual gate). Pure."""

import time

REDEPLOY_ENV = "VOICEPOP_REDEPLOY"


class UnknownServers(ValueError):
    pass


def redeploy_requests(value: str, servers: list[str]) -> frozenset[str]:
    """The servers named in `value` (comma- or space-separated); raises naming any that is
    not a server of the PoP, before anything runs."""
    named = {name for name in value.replace(",", " ").split() if name}
    unknown = sorted(named - set(servers))
    if unknown:
        raise UnknownServers(
            f"{REDEPLOY_ENV}: {', '.join(unknown)}: not a server of this PoP; allowed: "
            f"{', '.join(servers)}"
        )
    return frozenset(named)


def redeploy_token() -> str:
    """One per program run: new each time the repair asks, so a second repair runs again."""
    return f"repair-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{time.time_ns() % 10**9}"

"""What tests that start a service share: a free port on loopback, an instant query of a
Prometheus they started, and a wait for what such a service (or a host's) shows."""

import json
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prometheus_query(base: str, query: str) -> list[dict[str, Any]]:
    """The result of an instant query (an OSError while Prometheus is still starting)."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return list(json.load(answer)["data"]["result"])


def wait_for(condition: Callable[[], Any], limit_s: float, what: str) -> float:
    """Seconds until `condition()` is true, asked every second; an OSError counts as not yet
    (the service still starting). Fails naming `what` after `limit_s`."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except OSError:
            pass
        assert time.monotonic() - started < limit_s, f"not within {limit_s} s: {what}"
        time.sleep(1)

"""What tests that start a service on this machine share: a free port on loopback, and an
instant query of a Prometheus they started."""

import json
import socket
import urllib.parse
import urllib.request
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

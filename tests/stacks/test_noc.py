"""The NOC request for a provider without a BGP API: sessions, prefixes with their ROA and
route object, communities; never an MD5 key."""

import pytest

from stacks.noc import NO_SESSION, noc_document, render_markdown
from stacks.spec import parse_pop
from stacks.spec.routing import Roa, RouteObject, RoutingRegistry
from tests.pop_specs import VALID_CONTEXT, valid_pop

pytestmark = pytest.mark.anycast

REGISTRY = RoutingRegistry(
    roas=[Roa(prefix="198.51.100.0/24", origin_asn=396507, max_length=24)],
    route_objects=[RouteObject(prefix="198.51.100.0/24", origin_asn=396507)],
)


def document() -> dict[str, object]:
    spec = parse_pop(valid_pop(), VALID_CONTEXT, "Pulumi.ams1.yaml")
    return noc_document(spec, REGISTRY, {"ams1-sfu01": "192.0.2.10", "ams1-sfu02": None})


def test_one_session_per_server_and_neighbour_with_where_the_key_is_kept() -> None:
    sessions = document()["sessions"]
    assert isinstance(sessions, list)
    assert [(s["server"], s["server_address"], s["your_address"]) for s in sessions] == [
        ("ams1-sfu01", "192.0.2.10", "169.254.255.1"),
        ("ams1-sfu02", "(assigned at delivery)", "169.254.255.1"),
    ]
    first = sessions[0]
    assert first["md5"] == "shared out of band; kept as secret config voicepop:bgpMd5"
    assert first["your_asn"] == 49544 and first["server_asn"] == 396507
    assert first["multihop_ttl"] == 2 and first["bfd"] == {"interval_ms": 300, "multiplier": 3}
    assert first["max_prefixes"] == 1  # its IPv4 prefix; the IPv6 one needs an IPv6 session


def test_each_prefix_with_its_rpki_state_route_object_and_sessions() -> None:
    prefixes = {p["prefix"]: p for p in document()["prefixes"]}  # type: ignore[attr-defined]
    v4, v6 = prefixes["198.51.100.0/24"], prefixes["2001:db8:100::/48"]
    assert v4["rpki"] == "valid" and v4["roa"] == {"prefix": "198.51.100.0/24", "max_length": 24}
    assert v4["irr_route_object"] and v4["sessions_of_its_family"] == 2
    assert v6["rpki"] == "NOT VALID" and not v6["irr_route_object"]
    assert v6["sessions_of_its_family"] == 0


def test_the_markdown_request_names_what_is_missing() -> None:
    markdown = render_markdown(document())
    assert "| ams1-sfu01 | 192.0.2.10 | rtr1 | 169.254.255.1 | AS49544 |" in markdown
    assert (
        "| 2001:db8:100::/48 | anycast | ams1-sfu01, ams1-sfu02 | NOT VALID | MISSING | "
        f"{NO_SESSION} |" in markdown
    )
    assert "`65535:0`" in markdown

"""Whether the live firewall table is still the one the role loaded (nothing flushed or edited
it by hand since): the hash of `nft list table` against the hash recorded at the last load."""

from pyinfra.api.facts import FactBase

from roles.firewall.rules import TABLE

LOADED_HASH_PATH = "/var/lib/voicepop/firewall-table.sha256"
LISTING_HASH = f"nft list table inet {TABLE} 2>/dev/null | sha256sum | cut -c1-64"


class FirewallTableIntact(FactBase[bool]):
    def command(self) -> str:
        return (
            f'[ "$({LISTING_HASH})" = "$(cat {LOADED_HASH_PATH} 2>/dev/null)" ] '
            "&& echo intact || echo drifted"
        )

    def process(self, output: list[str]) -> bool:
        return output == ["intact"]

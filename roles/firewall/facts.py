"""Whether the live firewall table is still the one the role loaded (nothing flushed or edited
it by hand since): the hash of `nft list table` against the hash recorded at the last load.
The limits' meter sets are left out of the hash: they fill with the sources seen."""

from pyinfra.api.facts import FactBase

from roles.firewall.rules import METER_SET_PREFIX, TABLE

LOADED_HASH_PATH = "/var/lib/voicepop/firewall-table.sha256"
# every line but the meter sets' blocks (from "\tset signalling_..." to their closing "\t}")
WITHOUT_METERS = f"awk '/^\\tset {METER_SET_PREFIX}/{{m=1}} !m{{print}} m&&/^\\t}}/{{m=0}}'"
LISTING_HASH = (
    f"nft list table inet {TABLE} 2>/dev/null | {WITHOUT_METERS} | sha256sum | cut -c1-64"
)


class FirewallTableIntact(FactBase[bool]):
    def command(self) -> str:
        return (
            f'[ "$({LISTING_HASH})" = "$(cat {LOADED_HASH_PATH} 2>/dev/null)" ] '
            "&& echo intact || echo drifted"
        )

    def process(self, output: list[str]) -> bool:
        return output == ["intact"]

"""The providers' catalogues (locations, instance types, OS images), read from repo files."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stacks.yaml_files import read_yaml

CATALOGUE_FILES = {"flexmetal": Path(__file__).with_name("flexmetal_catalogue.yaml")}


@dataclass(frozen=True)
class ProviderCatalogue:
    instance_types_by_location: dict[str, tuple[str, ...]]
    operating_systems: tuple[str, ...]
    location_ids: dict[str, int]
    # calls one server of an instance type carries at the MOS bound (the project's figure)
    calls_per_server: dict[str, int]

    @property
    def locations(self) -> tuple[str, ...]:
        return tuple(self.instance_types_by_location)


@cache
def load_catalogue(provider: str) -> ProviderCatalogue:
    raw = read_yaml(CATALOGUE_FILES[provider])
    return ProviderCatalogue(
        instance_types_by_location={
            location["name"]: tuple(location["instanceTypes"]) for location in raw["locations"]
        },
        operating_systems=tuple(raw["operatingSystems"]),
        location_ids={location["name"]: int(location["id"]) for location in raw["locations"]},
        calls_per_server={str(k): int(v) for k, v in (raw.get("callsPerServer") or {}).items()},
    )

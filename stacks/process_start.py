"""The start of the project's short-lived Python processes: the stack program and the provider
plugins, started for every stack of every preview and up (a fleet preview of 50 PoPs starts
200 of them)."""

import gc

# Allocations between two young-generation collections (Python's default: 700).
YOUNG_COLLECTION_EVERY = 100_000


def collect_cycles_less_often() -> None:
    """A process's start-up allocates what it keeps to its end (the Pulumi SDK, the spec's
    pydantic schemas), and the cyclic collector's default pace walks it all over again and
    again: a tenth of a preview's program time. What is loaded so far is set aside from
    collection, and young objects are collected less often; cycles are still collected."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 50, 1000)

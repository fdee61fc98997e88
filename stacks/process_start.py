"""The start-up measures of the project's short-lived Python processes, in one place: the stack
program and the provider plugins start for every stack of every preview and up (a fleet
preview of 50 PoPs starts 200 of them), so their start-up is much of what they cost. The
plugins also defer SDK packages they never use (plugins/__main__.py)."""

import gc
import os

# Allocations between two young-generation collections (Python's default: 700).
YOUNG_COLLECTION_EVERY = 100_000


def collect_cycles_less_often() -> None:
    """A process's start-up allocates what it keeps to its end (the Pulumi SDK, the spec's
    pydantic schemas), and the cyclic collector's default pace walks it all over again and
    again: a tenth of a preview's program time. What is loaded so far is set aside from
    collection, and young objects are collected less often; cycles are still collected."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, 50, 1000)


def send_sdk_debug_logs_only_when_asked() -> None:
    """The SDK sends each of its debug lines to the engine as a blocking call (some 430 for a
    PoP of 20 servers, a fifth of the program's time and more of the engine's), which shows
    them only with -v: the program sends them only with VOICEPOP_SDK_DEBUG_LOGS=1."""
    if os.environ.get("VOICEPOP_SDK_DEBUG_LOGS"):
        return
    import pulumi  # imported already, by the language host that runs the program

    pulumi.log.debug = lambda *args, **kwargs: None


def start_program() -> None:
    """The stack program's start: before it imports the SDK's modules and its own."""
    collect_cycles_less_often()
    send_sdk_debug_logs_only_when_asked()

"""At most so many host deploys at once on this control machine, whichever `pulumi up` (or
fleet run) started them: each deploy holds one of N slot files locked (flock) while it runs,
and waits for a free one. The engine starts every deploy of a wave at once; a 2-core machine
runs a handful of pyinfra runs well and twenty badly. VOICEPOP_DEPLOY_SLOTS sets N (default:
the cores + 4, what the old plugin's thread pool allowed)."""

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

SLOTS_ENV = "VOICEPOP_DEPLOY_SLOTS"
POLL_S = 0.5


def slot_count(env: dict[str, str] | None = None) -> int:
    value = (env if env is not None else os.environ).get(SLOTS_ENV, "")
    if value:
        count = int(value)
        if count < 1:
            raise ValueError(f"{SLOTS_ENV}={value}: allowed: 1 or more deploys at once")
        return count
    return (os.cpu_count() or 1) + 4


def _try_lock(path: Path) -> IO[str] | None:
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def deploy_slot(
    folder: Path, count: int, waiting: Callable[[], None] = lambda: None
) -> Iterator[int]:
    """Holds a free slot (its number) for the block; `waiting` is called once if none is."""
    told = False
    while True:
        for number in range(count):
            handle = _try_lock(folder / f"slot-{number}.lock")
            if handle is not None:
                try:
                    yield number
                finally:
                    handle.close()  # closing releases the lock
                return
        if not told:
            waiting()
            told = True
        time.sleep(POLL_S)

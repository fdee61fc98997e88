"""Rooms the probe's calls left behind. A call killed mid-way (its prober restarted, its host
rebooted) never destroys its room, and Janus keeps a room until it is destroyed; a prober
sweeps each server of its PoP now and then (quality/prober.py): a probe room (described
`PROBE_ROOM_DESCRIPTION`) that is empty at two sweeps in a row is destroyed with its derived
secret (roles/sfu/access.py `probe_room_secret`). A room a call is making at the moment of a
sweep (made, not joined yet) is empty at one sweep at most. Other rooms are never touched.
`rooms_to_destroy` chooses (pure); `sweep` asks the server."""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quality.janus import JanusError, JanusSession
from quality.probe import Target
from roles.sfu.access import PROBE_ROOM_DESCRIPTION, Credentials, probe_room_secret

VIDEOROOM = "janus.plugin.videoroom"


@dataclass(frozen=True)
class Swept:
    destroyed: tuple[int, ...] = ()
    empty: frozenset[int] = frozenset()  # empty now: destroyed if still empty at the next sweep


def rooms_to_destroy(
    listed: Sequence[dict[str, Any]], empty_before: frozenset[int]
) -> tuple[list[int], frozenset[int]]:
    """The probe rooms empty now and at the last sweep (to destroy), and those empty now."""
    empty = frozenset(
        int(room["room"])
        for room in listed
        if room.get("description") == PROBE_ROOM_DESCRIPTION and not room.get("num_participants")
    )
    return sorted(empty & empty_before), empty


async def sweep(
    target: Target, credentials: Credentials, empty_before: frozenset[int], timeout_s: float = 5
) -> Swept:
    """One sweep of the server's probe rooms, with the admin key of the secret it accepts."""
    janus = JanusSession(target.signalling_url, timeout_s, credentials.tokens(60), target.address)
    await janus.open()
    try:
        handle = await janus.attach(VIDEOROOM)
        admin_key = credentials.admin_keys()[janus.accepted]
        listed = await janus.request(handle, {"request": "list", "admin_key": admin_key})
        doomed, empty = rooms_to_destroy(listed.get("list", []), empty_before)
        destroyed = []
        for room in doomed:
            secret = probe_room_secret(credentials.secrets[janus.accepted], room)
            with contextlib.suppress(JanusError):  # gone meanwhile: another prober's sweep
                await janus.request(handle, {"request": "destroy", "room": room, "secret": secret})
                destroyed.append(room)
        return Swept(tuple(destroyed), empty - frozenset(destroyed))
    finally:
        await janus.close()

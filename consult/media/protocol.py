"""Names and message types of the web tier <-> media worker protocol.

The contract itself is ``docs/media-protocol.md``; this module only spells its
addresses and types once so that the web tier never builds them by hand.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from typing import Any

from consult.events import group_name

# Types the web tier sends to a worker.
TO_WORKER = frozenset(
    {
        "media.offer",
        "media.answer",
        "media.ice",
        "media.subscribe",
        "media.unsubscribe",
        "media.keyframe",
        "media.stats",
        "media.leave",
        "media.close_room",
        "media.composite.start",
        "media.composite.stop",
        "media.layer",
    }
)
# Sent by the web tier (never by a worker) to the room group when the room's
# worker is gone; every participant renegotiates.
WORKER_LOST = "media.worker_lost"

_ID_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def worker_channel(worker_id: str) -> str:
    """The channel a worker receives on: ``media.worker.<id>``."""
    return f"media.worker.{worker_id}"


def room_group(room_id: object) -> str:
    """The room's channel-layer group, ``room.<room id>``."""
    return group_name("room", room_id)


def new_worker_id() -> str:
    """``w-<hostname>-<pid>-<random>``, safe as part of a channel name."""
    host = _ID_SAFE.sub("-", socket.gethostname())[:40] or "host"
    return f"w-{host}-{os.getpid()}-{secrets.token_hex(3)}"


def valid_worker_id(worker_id: str) -> bool:
    """Whether ``worker_id`` can be used in channel names and Redis keys."""
    return 0 < len(worker_id) <= 80 and not _ID_SAFE.search(worker_id)


def worker_lost_event(room_id: str, worker_id: str, reason: str) -> dict[str, Any]:
    """The room-group event telling participants to renegotiate."""
    return {"type": WORKER_LOST, "room": room_id, "worker": worker_id, "reason": reason}

"""Real-time fan-out through the channel layer, always after the database commit."""

from __future__ import annotations

import logging
import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)
_GROUP_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def group_name(*parts: object) -> str:
    """A channel-layer group name: ASCII letters, digits, ``.-_``, at most 100 chars."""
    name = ".".join(_GROUP_SAFE.sub("-", str(part)) for part in parts)
    if len(name) > 99:
        raise ValueError(f"group name too long: {name[:40]}...")
    return name


def publish(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` now. Live updates only; a lost one costs a reload."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # noqa: BLE001  (a committed change must not fail on fan-out)
        logger.exception("fan-out to %s failed", group)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the current transaction commits."""
    transaction.on_commit(lambda: publish(group, event))

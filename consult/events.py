"""Real-time fan-out through the channel layer, always after the database commit.

``publish_on_commit`` collects the events of one outermost transaction and
sends them, in the order they were published, in one trip to the event loop
after the commit (one ``async_to_sync`` per transaction instead of one per
event: an outbox flush of 32 vitals batches used to make ~50 trips).

Django's on-commit semantics are kept by registering every event with
``transaction.on_commit`` as Django wants it: an event published inside a
savepoint that rolls back is dropped by Django itself. Each event's callback
only adds it to the transaction's ``_Fanout``; the ``_Fanout`` is kept as the
last commit hook, so it runs after every surviving event was added and sends
them together. Outside a transaction an event is sent at once.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from consult import layer_watch

logger = logging.getLogger(__name__)
_GROUP_SAFE = re.compile(r"[^A-Za-z0-9._-]")
Event = tuple[str, dict[str, Any]]


def group_name(*parts: object) -> str:
    """A channel-layer group name: ASCII letters, digits, ``.-_``, at most 100 chars."""
    name = ".".join(_GROUP_SAFE.sub("-", str(part)) for part in parts)
    if len(name) > 99:
        raise ValueError(f"group name too long: {name[:40]}...")
    return name


async def _send_all(layer: Any, events: list[Event]) -> None:
    """Send in order; after a layer error the rest would fail the same way."""
    for index, (group, event) in enumerate(events):
        try:
            await layer.group_send(group, event)
        except layer_watch.LAYER_ERRORS as exc:
            logger.warning(
                "channel layer unreachable (%s): %d live events not sent",
                type(exc).__name__,
                len(events) - index,
            )
            return
        except Exception:  # noqa: BLE001  (one bad event must not stop the others)
            logger.exception("fan-out to %s failed", group)


def _send(events: list[Event]) -> None:
    layer = get_channel_layer()
    if layer is None or not events:
        return
    if layer_watch.is_down(layer):
        # Live events are best effort: the data is committed and receivers
        # backfill it when their sockets resync, so do not wait on a dead layer.
        logger.info("channel layer down: %d live events not sent", len(events))
        return
    try:
        async_to_sync(_send_all)(layer, events)
    except Exception:  # noqa: BLE001  (a committed change must not fail on fan-out)
        logger.exception("fan-out of %d events failed", len(events))


def publish(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` now. Live updates only; a lost one costs a reload."""
    _send([(group, event)])


class _Fanout:
    """One outermost transaction's events, sent together by its last commit hook."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, group: str, event: dict[str, Any]) -> None:
        """An event's own commit hook: it survived every savepoint rollback."""
        self.events.append((group, event))

    def __call__(self) -> None:
        events, self.events = self.events, []
        _send(events)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the current transaction commits.

    Outside a transaction (autocommit) it is sent at once, as Django runs
    ``on_commit`` callbacks at once there.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        transaction.on_commit(functools.partial(publish, group, event))
        return
    # Find this transaction's fan-out hook and take it out, to put it back last.
    hooks = connection.run_on_commit
    fanout: _Fanout | None = None
    sids = set(connection.savepoint_ids)
    for index in range(len(hooks) - 1, -1, -1):
        hook_sids, func, _robust = hooks[index]
        if isinstance(func, _Fanout):
            fanout = func
            # Only the savepoints every one of its events is inside of may
            # remove it; a rollback of those drops all its events as well.
            sids &= hook_sids
            del hooks[index]
            break
    if fanout is None:
        fanout = _Fanout()
    transaction.on_commit(functools.partial(fanout.add, group, event))
    connection.run_on_commit.append((sids, fanout, False))

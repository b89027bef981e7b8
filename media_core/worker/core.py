"""``MediaWorker``: the worker side of ``docs/media-protocol.md``.

See ``media_core.worker`` for the public API. Messages of one participant are
handled one at a time in arrival order (an inbox and a task per participant);
different participants proceed concurrently. A handler failure becomes a
``media.error`` to ``reply_to``; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration

from media_core.aiortc_fixes import MediaFixes
from media_core.errors import (
    InvalidMessage,
    MediaError,
    ProtocolError,
    WorkerOverloaded,
)
from media_core.layers import LayerFactory
from media_core.peers import PeerRegistry
from media_core.worker.composite import CompositeHandlers
from media_core.worker.handlers import is_id
from media_core.worker.rooms import Room
from media_core.worker.transport import Message, Transport

logger = logging.getLogger(__name__)


class MediaWorker(CompositeHandlers):
    """Hosts rooms of passthrough relays for the web tier (see module docs)."""

    def __init__(
        self,
        worker_id: str,
        transport: Transport,
        *,
        rtc_configuration: RTCConfiguration | None = None,
        fixes: MediaFixes | None = None,
        capacity: int = 50,
        inbox_size: int = 64,
        keyframe_interval: float = 0.5,
        output_root: Path | None = None,
        layer_factories: Mapping[str, LayerFactory] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.transport = transport
        self.capacity = capacity
        self.started_at = time.time()
        self._config = rtc_configuration or RTCConfiguration()
        self._fixes = fixes
        self._fixes_applied = False
        self._inbox_size = inbox_size
        self._keyframe_interval = keyframe_interval
        self._rooms: dict[str, Room] = {}
        self._peers = PeerRegistry(on_failed=self._on_peer_failed)
        self._inboxes: dict[tuple[str, str], asyncio.Queue[Message]] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._closed = False
        self._cpu_mark = (os.times(), time.monotonic())
        self._handlers: dict[str, Callable[[Message], Awaitable[None]]] = {
            "media.offer": self._on_offer,
            "media.answer": self._on_answer,
            "media.ice": self._on_ice,
            "media.subscribe": self._on_subscribe,
            "media.unsubscribe": self._on_unsubscribe,
            "media.keyframe": self._on_keyframe,
            "media.stats": self._on_stats,
            "media.leave": self._on_leave,
            "media.close_room": self._on_close_room,
            "_peer_failed": self._on_failed_message,
        }
        # Composite feeds (broadcast, HLS, recording): media_core.worker.composite.
        self._init_composites(output_root, layer_factories)
        self._handlers.update(self._composite_handlers())

    @property
    def channel(self) -> str:
        """The channel this worker receives on: ``media.worker.<id>``."""
        return f"media.worker.{self.worker_id}"

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        """Receive and dispatch messages until ``close()`` (or cancellation)."""
        if self._fixes is not None and not self._fixes_applied:
            self._fixes.apply()
            self._fixes_applied = True
        while not self._closed:
            try:
                message = await self.transport.receive()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Outermost loop: a transport hiccup must not end the worker.
                logger.exception("worker %s: receive failed", self.worker_id)
                await asyncio.sleep(0.1)
                continue
            self.dispatch(message)

    def dispatch(self, message: object) -> None:
        """Validate the envelope and queue ``message`` on its participant's inbox."""
        if not isinstance(message, dict):
            logger.warning("worker %s: dropped a non-dict message", self.worker_id)
            return
        reply_to = message.get("reply_to")
        if not is_id(reply_to):
            logger.warning(
                "worker %s: message without reply_to dropped", self.worker_id
            )
            return
        kind = message.get("type")
        room, participant = message.get("room"), message.get("participant")
        if kind not in self._handlers or kind == "_peer_failed":
            self._reply_error(reply_to, kind, InvalidMessage(f"unknown type {kind!r}"))
            return
        if not (is_id(room) and is_id(participant)):
            err = InvalidMessage("room and participant must be non-empty strings")
            self._reply_error(reply_to, kind, err)
            return
        self._enqueue((room, participant), message)

    def _enqueue(self, key: tuple[str, str], message: Message) -> None:
        inbox = self._inboxes.get(key)
        if inbox is None:
            inbox = self._inboxes[key] = asyncio.Queue(self._inbox_size)
            self._tasks[key] = asyncio.ensure_future(self._drain(key, inbox))
        try:
            inbox.put_nowait(message)
        except asyncio.QueueFull:
            err = WorkerOverloaded("too many pending messages for this participant")
            self._reply_error(message["reply_to"], message.get("type"), err)

    async def _drain(self, key: tuple[str, str], inbox: asyncio.Queue[Message]) -> None:
        while True:
            message = await inbox.get()
            await self.handle(message)
            room = self._rooms.get(key[0])
            if inbox.empty() and (room is None or key[1] not in room.participants):
                # Left, closed or never joined: stop this participant's task.
                self._inboxes.pop(key, None)
                self._tasks.pop(key, None)
                return

    async def handle(self, message: Message) -> None:
        """Handle one validated message now; errors become ``media.error``."""
        kind = message.get("type")
        try:
            await self._handlers[str(kind)](message)
        except ProtocolError as exc:
            self._reply_error(message.get("reply_to"), kind, exc)
        except MediaError as exc:
            self._reply_error(message.get("reply_to"), kind, InvalidMessage(str(exc)))
        except Exception:
            # Per-message boundary: one bad message must not end the worker.
            logger.exception("worker %s: %s failed", self.worker_id, kind)
            err = InvalidMessage("internal error handling the message")
            self._reply_error(message.get("reply_to"), kind, err)

    async def close(self) -> None:
        """Stop handling messages, close every connection and relay."""
        self._closed = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._inboxes.clear()
        await self._close_composites()
        for room in self._rooms.values():
            for track in room.tracks.values():
                track.relay.close()
        self._rooms.clear()
        await self._peers.close_all()
        if self._fixes_applied:
            self._fixes.revert()
            self._fixes_applied = False

    def load(self) -> dict[str, Any]:
        """Heartbeat figures: rooms, peers, tracks, subscribers, composites, cpu.

        ``cpu`` is this process's CPU time since the previous call over the wall
        time between them; ``capacity`` is in rooms.
        """
        times, wall = os.times(), time.monotonic()
        last_times, last_wall = self._cpu_mark
        self._cpu_mark = (times, wall)
        used = (times.user - last_times.user) + (times.system - last_times.system)
        elapsed = wall - last_wall
        tracks = [t for room in self._rooms.values() for t in room.tracks.values()]
        return {
            "worker": self.worker_id,
            "rooms": len(self._rooms),
            "peers": len(self._peers),
            "tracks": len(tracks),
            "subscribers": sum(len(t.relay.subscribers) for t in tracks),
            "composites": len(self._composites),
            "cpu": round(100.0 * used / elapsed, 1) if elapsed > 0 else 0.0,
            "capacity": self.capacity,
            "started_at": self.started_at,
        }

    # -- sending ---------------------------------------------------------------

    def _send(self, channel: str, message: Message) -> None:
        asyncio.ensure_future(self._safe(self.transport.send(channel, message)))

    def _group_send(self, group: str, message: Message) -> None:
        asyncio.ensure_future(self._safe(self.transport.group_send(group, message)))

    async def _safe(self, sending: Awaitable[None]) -> None:
        try:
            await sending
        except Exception:
            # The channel layer may be full or down; the worker must carry on.
            logger.exception("worker %s: send failed", self.worker_id)

    def _reply_error(self, reply_to: object, kind: object, exc: ProtocolError) -> None:
        if not isinstance(reply_to, str):
            return
        logger.info("worker %s: %s error %s: %s", self.worker_id, kind, exc.code, exc)
        message = {"type": "media.error", "code": exc.code, "detail": exc.detail}
        message["for"] = kind if isinstance(kind, str) else None
        self._send(reply_to, message)

"""The web tier's side of the media protocol, for Channels consumers.

A consumer builds one ``MediaSession`` per participant and calls its methods;
every call places the room (``place``) and sends one protocol message to the
room's worker, with ``reply_to`` set to the consumer's channel name.

Replies arrive at the consumer as channel-layer events (handler names in
brackets), fields as in ``docs/media-protocol.md``:

- ``media.answer`` [``media_answer``]: ``pc``, ``sdp``
- ``media.offer`` [``media_offer``]: ``pc`` ("sub"), ``sdp``; answer it
- ``media.error`` [``media_error``]: ``code``, ``detail``, ``for``
- ``media.stats`` [``media_stats``]: ``tracks``, ``peers``

and, to consumers in the room's group ``room_group(room_id)``:

- ``media.tracks`` [``media_tracks``]: ``tracks`` (the room's whole list)
- ``media.worker_lost`` [``media_worker_lost``]: ``room``, ``worker``,
  ``reason`` ("expired" or "shutdown"); the participant renegotiates: a new
  publish offer and a new subscribe.

Errors raised here are ``MediaUnavailable`` (a ``ConsultError``, code
``media_unavailable`` or ``worker_overloaded``), which ``ValidatedJsonConsumer``
turns into an error reply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from consult.exceptions import ConsultError
from consult.media.placement import Placement, WorkerRegistry
from consult.media.protocol import (
    TO_WORKER,
    room_group,
    worker_channel,
    worker_lost_event,
)
from consult.media.runtime import (
    EmbeddedMediaWorker,
    current_embedded_worker,
    embedded_worker,
)

logger = logging.getLogger(__name__)

PeerName = Literal["pub", "sub"]
_NO_PLACEMENT = frozenset({"media.leave", "media.close_room"})


class MediaUnavailable(ConsultError):
    """No media worker can take the request now; the client retries later."""

    status_code = 503

    def __init__(
        self,
        message: str = "No media worker is available.",
        *,
        code: str = "media_unavailable",
    ) -> None:
        super().__init__(message, code=code)


def scaled() -> bool:
    """Whether media runs in external worker processes (else embedded)."""
    return settings.MEDIA_WORKERS == "external"


async def place(room_id: str) -> str:
    """The id of the worker serving ``room_id``, placing the room if needed.

    Scaled: the least-loaded live worker (atomic in Redis). When the room's
    previous worker has died, the room group is told ``media.worker_lost``
    before this returns. Embedded: always this process's worker.
    """
    if not scaled():
        worker = current_embedded_worker() or await _start_embedded()
        return worker.worker_id
    try:
        placement: Placement = await WorkerRegistry.for_current_loop().place_room(
            room_id
        )
    except RedisError as exc:
        logger.warning("media placement failed: %s", type(exc).__name__)
        raise MediaUnavailable() from exc
    if placement.lost_worker_id:
        await _group_send(
            room_group(room_id),
            worker_lost_event(room_id, placement.lost_worker_id, "expired"),
        )
    if placement.worker_id is None:
        raise MediaUnavailable(code="worker_overloaded")
    return placement.worker_id


async def media_send(room_id: str, message: dict[str, Any], *, reply_to: str) -> str:
    """Send one protocol message about ``room_id`` to its worker; returns its id.

    ``message`` carries ``type`` (one of ``protocol.TO_WORKER``), ``participant``
    and the type's fields; ``room`` and ``reply_to`` are set here.
    """
    kind = message.get("type")
    if kind not in TO_WORKER:
        raise ValueError(f"not a message for a media worker: {kind!r}")
    outgoing = {**message, "room": str(room_id), "reply_to": reply_to}
    # Leaving never places (or starts) anything: a lost worker's peers are gone.
    placing = kind not in _NO_PLACEMENT
    if not scaled():
        worker = current_embedded_worker()
        if worker is None and placing:
            worker = await _start_embedded()
        if worker is None:
            return ""
        worker.submit(outgoing, asyncio.get_running_loop())
        return worker.worker_id
    if placing:
        worker_id = await place(str(room_id))
    else:
        try:
            registry = WorkerRegistry.for_current_loop()
            worker_id = await registry.room_worker(str(room_id)) or ""
        except RedisError as exc:
            raise MediaUnavailable() from exc
        if not worker_id:
            return ""
    layer = get_channel_layer()
    try:
        await layer.send(worker_channel(worker_id), outgoing)
    except ChannelFull as exc:
        raise MediaUnavailable(
            "The media worker is overloaded.", code="worker_overloaded"
        ) from exc
    except RedisError as exc:
        logger.warning("media send failed: %s", type(exc).__name__)
        raise MediaUnavailable() from exc
    return worker_id


async def media_request(
    room_id: str,
    message: dict[str, Any],
    *,
    expect: str,
    wait_s: float = 10.0,
) -> dict[str, Any]:
    """Send ``message`` and wait for the worker's reply of type ``expect``.

    The reply comes to a channel of its own, so a request can be made from any
    async context (a consumer, an async view), not only from the socket that
    owns the participant. A ``media.error`` reply raises ``ConsultError`` with
    the worker's code; no reply in ``wait_s`` seconds raises
    ``MediaUnavailable``.
    """
    layer = get_channel_layer()
    if layer is None:
        raise MediaUnavailable()
    channel = await layer.new_channel("media-request.")
    await media_send(room_id, message, reply_to=channel)
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise MediaUnavailable("The media worker did not answer in time.")
        try:
            reply = await asyncio.wait_for(layer.receive(channel), remaining)
        except TimeoutError:
            raise MediaUnavailable("The media worker did not answer in time.") from None
        except RedisError as exc:
            raise MediaUnavailable() from exc
        if reply.get("type") == "media.error":
            raise ConsultError(
                str(reply.get("detail") or "The media worker refused."),
                code=str(reply.get("code") or "media_error"),
            )
        if reply.get("type") == expect:
            return reply


async def media_close_room(room_id: str, *, participant: str, reply_to: str) -> None:
    """Close every peer of a room that has ended, and unplace it.

    ``participant`` is whoever closes it (the worker requires one on every
    message); errors come back to ``reply_to``.
    """
    await media_send(
        room_id,
        {"type": "media.close_room", "participant": participant},
        reply_to=reply_to,
    )
    if scaled():
        try:
            await WorkerRegistry.for_current_loop().release_room(str(room_id))
        except RedisError:
            logger.warning("could not unplace room %s", room_id)


async def media_workers() -> list[dict[str, Any]]:
    """Live workers as ``{id, load, age_s}`` (scaled: from Redis)."""
    if not scaled():
        worker = current_embedded_worker()
        if worker is None:
            return []
        return [
            {"id": worker.worker_id, "load": worker.snapshot, "age_s": worker.age_s()}
        ]
    # A registry of its own: health runs on short-lived loops (async_to_sync).
    registry = WorkerRegistry(settings.REDIS_URL, prefix=settings.MEDIA_REDIS_PREFIX)
    try:
        return [info.as_dict() for info in await registry.live_workers()]
    finally:
        await registry.aclose()


async def _start_embedded() -> EmbeddedMediaWorker:
    # Starting waits for the thread; never on the web loop.
    worker = await asyncio.to_thread(embedded_worker)
    if worker is None:
        raise MediaUnavailable()
    return worker


async def _group_send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, event)
    except RedisError:
        # The request itself goes on; clients also see their peers fail.
        logger.warning("could not send %s to %s", event.get("type"), group)


@dataclass(frozen=True, slots=True)
class MediaSession:
    """One participant's media in one room, as a consumer drives it."""

    room_id: str
    participant: str
    reply_to: str

    async def _send(self, kind: str, **fields: Any) -> str:
        message = {"type": kind, "participant": self.participant, **fields}
        return await media_send(self.room_id, message, reply_to=self.reply_to)

    async def offer(self, sdp: str) -> str:
        """Publish (or renegotiate publishing): the worker replies ``media.answer``."""
        return await self._send("media.offer", pc="pub", sdp=sdp)

    async def answer(self, sdp: str) -> str:
        """Answer the worker's ``media.offer`` for the subscribe peer."""
        return await self._send("media.answer", pc="sub", sdp=sdp)

    async def ice(self, pc: PeerName, candidate: dict[str, Any] | None) -> str:
        """A trickled ICE candidate (None: end of candidates)."""
        return await self._send("media.ice", pc=pc, candidate=candidate)

    async def subscribe(self, tracks: list[str]) -> str:
        """Receive these tracks: the worker replies ``media.offer`` (pc "sub")."""
        return await self._send("media.subscribe", tracks=list(tracks))

    async def unsubscribe(self, tracks: list[str]) -> str:
        """Stop receiving these tracks."""
        return await self._send("media.unsubscribe", tracks=list(tracks))

    async def keyframe(self, track: str) -> str:
        """Ask the track's publisher for a keyframe (rate-limited by the worker)."""
        return await self._send("media.keyframe", track=track)

    async def stats(self) -> str:
        """Ask for counters: the worker replies ``media.stats``."""
        return await self._send("media.stats")

    async def leave(self) -> None:
        """Close this participant's peers. Never raises: used on disconnect."""
        try:
            await self._send("media.leave")
        except Exception:  # noqa: BLE001  (a disconnect must complete)
            logger.warning("media.leave for room %s not delivered", self.room_id)

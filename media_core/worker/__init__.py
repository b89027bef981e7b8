"""The media worker: rooms of passthrough relays driven by JSON messages.

Implements the worker side of ``docs/media-protocol.md``. The web tier talks to
it only through a ``Transport``; the same code runs embedded (a thread with its
own event loop and a thread-safe bridge) and scaled (``manage.py media_worker``
over the Redis channel layer).

Public API::

    worker = MediaWorker(
        worker_id,               # "w-<host>-<pid>-<rand>"; receives on .channel
        transport,               # a Transport (below)
        rtc_configuration=None,  # aiortc RTCConfiguration (STUN/TURN servers)
        fixes=None,              # MediaFixes: applied in run(), reverted in close()
        capacity=50,             # rooms; reported in load() for placement
        output_root=None,        # Path for HLS and recordings (None: refused)
        layer_factories=None,    # {kind: spec -> Layer}, added to {"vitals": ...}
    )
    task = asyncio.create_task(worker.run())   # receive + dispatch until close()
    worker.dispatch(message)        # or push messages yourself (no receive loop)
    worker.load()                   # {"worker", "rooms", "peers", "tracks",
                                    #  "subscribers", "cpu", "capacity", "started_at"}
    worker.composite_stats()        # {name: feed counters} of the composites
    await worker.close()            # stops composites (files finished), closes
                                    # every peer connection and relay

    class Transport(Protocol):      # all on the worker's event loop
        async def receive(self) -> dict              # next message for the worker
        async def send(self, channel: str, message: dict) -> None   # to reply_to
        async def group_send(self, group: str, message: dict) -> None  # "room.<id>"

Messages in (each with ``type``, ``room``, ``participant``, ``reply_to``, and
optionally ``opened``: when the sending socket opened, ns, so that an older
socket never takes a participant's media back from a newer one):
``media.offer`` (``pc="pub"``, ``sdp``), ``media.answer`` (``pc="sub"``,
``sdp``), ``media.ice`` (``pc``, ``candidate`` as ``RTCIceCandidate.toJSON()``
or ``null``), ``media.subscribe`` / ``media.unsubscribe`` (``tracks``),
``media.keyframe`` (``track``), ``media.stats``, ``media.leave``,
``media.close_room``. A message without a string ``reply_to`` is logged and
dropped; anything else wrong is answered.

Composite feeds (``media_core.worker.composite``, ``media_core.broadcast``):
``media.composite.start`` (``source`` track id, ``name`` matching
``[A-Za-z0-9_-]{1,64}``, ``layers``: ``[{"kind": ..., ...}]``, ``record``,
``hls``, ``bitrate``?, ``fps``?) composites one published video with overlay
layers and publishes it as the track ``composite:<name>`` (participant
``composite``, codec ``h264``); a second start with the same name rebinds the
source. It replies ``media.composite.started`` (``composite``, ``track``,
``source``, ``hls``: ``"hls/<name>/index.m3u8"`` or ``null``,
``recording``: ``{"video", "timeline"}`` paths relative to ``output_root`` or
``null``). ``media.layer`` (``composite``, ``kind``, ``data``) calls the
layer's ``update(data)``; no reply unless refused. ``media.composite.stop``
(``composite``) finishes HLS (``EXT-X-ENDLIST``) and the recording and replies
``media.composite.stopped`` (``composite``, ``reason``: ``"requested"``,
``"room_closed"`` or ``"worker_closed"``, ``recording``: the paths plus
``duration_s``, ``bytes``, ``started_at_ms``, or ``null``); ``media.close_room``
and ``close()`` send it to the starter's ``reply_to``. A composite outlives
its source's publisher. Layer factories: media_core has ``"vitals"``; others
are injected (the web tier adds ``"annotations"``). Formats of the files:
``docs/media-protocol.md``.

Messages out, to ``reply_to``: ``media.answer`` (``pc="pub"``, ``sdp``),
``media.offer`` (``pc="sub"``, ``sdp``, ``tracks``: ``{mid: track id}``, ``fresh``),
``media.stats`` (``tracks``, ``peers``), ``media.error`` (``code``, ``detail``,
``for``). To the group ``room.<room>``: ``{"type": "media.tracks", "room",
"tracks": [{track, participant, kind, codec, label, mid}]}`` after every
publish, leave and room close (the whole list each time). A track id is minted
afresh for every published track, ``"<participant>:<mid>:<8 hex digits>"``
(random, so never reused: not after a leave, a failed connection or
``media.worker_lost``); a renegotiation that keeps the publish transceiver
keeps its id. Clients treat ids as opaque: ``mid`` is the publish
transceiver's mid (``null`` for a composite) and ``label`` the browser's
track id (msid).

Error codes: ``malformed_sdp``, ``unknown_peer``, ``stale_session`` (the
participant's media was taken over by a newer socket), ``unknown_track``,
``unknown_room``, ``rate_limited`` (a ``media.keyframe`` inside the per-track
0.5 s window; the request is still coalesced into the next one),
``invalid_message``, ``worker_overloaded`` (more than 64 messages queued for one
participant, or more than 4 composites), ``unknown_composite``, ``unknown_layer``,
``output_unavailable`` (``record``/``hls`` without ``output_root``).

Threading: everything (``run``, ``dispatch``, ``load``, ``close`` and the
``Transport`` methods) runs on the worker's own event loop. From another thread
(the embedded bridge) use ``loop.call_soon_threadsafe(worker.dispatch, msg)``
and ``asyncio.run_coroutine_threadsafe(worker.close(), loop)``. aiortc's
bitrate caps and the fixes are process-wide: one worker per process, or share
one ``MediaFixes``.

Ordering: messages of one participant are handled in order, one at a time;
participants proceed concurrently. A failed peer connection is closed by the
worker (its tracks unpublished and ``media.tracks`` re-sent); the client
renegotiates. aiortc gathers ICE candidates before it
answers, so the worker's SDP carries them and it never sends ``media.ice``.
"""

from media_core.worker.core import MediaWorker
from media_core.worker.transport import Message, QueueTransport, Transport

__all__ = ["MediaWorker", "Message", "QueueTransport", "Transport"]

"""Passthrough fan-out: one published track's encoded frames to N subscribers.

``TrackRelay`` receives ``av.Packet``\\ s (from ``media_core.tap`` or any
encoded source) with ``push`` and hands them to ``RelayTrack``\\ s, one per
subscriber. A ``RelayTrack`` is a ``MediaStreamTrack`` whose ``recv`` returns
``av.Packet``; aiortc's sender then only re-packetizes it (``pack()``), so the
cost grows with packets, not pixels.

Rules (``research/aiortc-1.16.md`` section 1):

* every subscriber queue is bounded (``queue_size`` frames); a subscriber that
  falls behind is flushed and waits for the next keyframe (``resyncs``), so it
  never slows the others and memory never grows;
* a new or resynchronising video subscriber is held until a keyframe and one
  is requested upstream;
* keyframe requests (joins, overflows, subscribers' PLI/FIR, the web tier) go
  upstream at most once per ``keyframe_interval`` seconds per track; a request
  inside the window is coalesced into one sent when the window ends;
* audio (Opus) relays the same way; every audio packet is a "keyframe".

Threading: everything runs on the event loop (``push`` is called by the tap
from aiortc's RTP handler).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_core.tap import assert_aiortc_internals, bind_keyframe_handler

logger = logging.getLogger(__name__)

# Fail at import, not mid-call, if aiortc's private hooks have moved.
assert_aiortc_internals()

#: Default bound per subscriber: about one second of video or audio.
VIDEO_QUEUE_SIZE = 30
AUDIO_QUEUE_SIZE = 50
KEYFRAME_INTERVAL = 0.5
#: Retry delay (s) when the upstream cannot send a keyframe request yet.
UPSTREAM_RETRY_S = 0.05
#: A keyframe queued this long (s) before the sender starts is replaced.
STALE_KEYFRAME_S = 0.15

_ids = itertools.count(1)


@dataclass(slots=True)
class SubscriberCounters:
    """Per-subscriber counts, JSON-safe via ``asdict``."""

    forwarded: int = 0
    dropped: int = 0
    keyframes_requested: int = 0
    resyncs: int = 0
    queued: int = 0


class RelayTrack(MediaStreamTrack):
    """One subscriber's view of a relayed track; ``recv`` returns ``av.Packet``.

    Ends (``MediaStreamError``) when stopped or when the relay closes.
    """

    def __init__(self, relay: TrackRelay, name: str, queue_size: int) -> None:
        super().__init__()
        self.kind = relay.kind
        self.name = name
        self.counters = SubscriberCounters()
        self._relay = relay
        self._queue: deque[av.Packet] = deque()
        self._queue_size = queue_size
        self._ready = asyncio.Event()
        self._closed = False
        self._started = False
        self._keyframe_at = 0.0
        self.waiting_keyframe = relay.kind == "video"

    def _offer(self, packet: av.Packet) -> bool:
        """Queue ``packet`` from the relay; ``True`` if a resync needs a keyframe."""
        if self.waiting_keyframe:
            if not packet.is_keyframe:
                self.counters.dropped += 1
                return False
            self.waiting_keyframe = False
            self._keyframe_at = self._relay._now()
        if len(self._queue) >= self._queue_size:
            self.counters.dropped += len(self._queue)
            self._queue.clear()
            self.counters.resyncs += 1
            if not packet.is_keyframe:
                # Frames after a gap would decode corrupt: wait for a keyframe.
                self.counters.dropped += 1
                self.waiting_keyframe = True
                self.counters.keyframes_requested += 1
                logger.info("subscriber %s overflowed; resyncing", self.name)
                return True
        self._queue.append(packet)
        self._ready.set()
        return False

    def _close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._ready.set()

    async def recv(self) -> av.Packet:  # type: ignore[override]
        """The next packet (pts and time base from the publisher)."""
        if not self._started:
            self._started = True
            self._refresh_stale_keyframe()
        while not self._queue:
            if self._closed or self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        packet = self._queue.popleft()
        self.counters.forwarded += 1
        return packet

    def _refresh_stale_keyframe(self) -> None:
        # The sender starts once DTLS is up, possibly before the remote
        # receiver listens, so the first keyframe may be lost (and aiortc's
        # H.264 decoder then waits silently for the next one): ask for one
        # more now. A keyframe queued long ago is dropped rather than sent.
        if self._relay.kind != "video":
            return
        age = self._relay._now() - self._keyframe_at
        if self._queue and age > STALE_KEYFRAME_S:
            self.counters.dropped += len(self._queue)
            self._queue.clear()
            self.waiting_keyframe = True
        self.counters.keyframes_requested += 1
        self._relay.request_keyframe()

    def request_keyframe(self) -> None:
        """The subscriber's decoder lost a picture (its PLI/FIR): ask upstream."""
        self.counters.keyframes_requested += 1
        self._relay.request_keyframe()

    def stop(self) -> None:
        """End the track and leave the relay."""
        super().stop()
        self._relay.unsubscribe(self)
        self._close()

    def stats(self) -> dict[str, int | str | bool]:
        """JSON-safe counters of this subscriber."""
        self.counters.queued = len(self._queue)
        out: dict[str, int | str | bool] = dict(asdict(self.counters))
        out["subscriber"] = self.name
        out["waiting_keyframe"] = self.waiting_keyframe
        return out


class TrackRelay:
    """Fan one published track out to any number of ``RelayTrack``\\ s.

    ``request_upstream`` asks the publisher for a keyframe now (for example
    ``ReceiverTap.request_keyframe``); the relay rate-limits it, and retries
    every 50 ms while it returns ``False`` (nothing received yet to ask).
    """

    def __init__(
        self,
        kind: str,
        request_upstream: Callable[[], object] | None = None,
        *,
        name: str | None = None,
        queue_size: int | None = None,
        keyframe_interval: float = KEYFRAME_INTERVAL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if kind not in ("audio", "video"):
            raise ValueError(f"kind must be audio or video, got {kind!r}")
        self.kind = kind
        self.name = name or f"relay-{next(_ids)}"
        self._request_upstream = request_upstream
        self._queue_size = queue_size or (
            VIDEO_QUEUE_SIZE if kind == "video" else AUDIO_QUEUE_SIZE
        )
        self._interval = keyframe_interval
        self._clock = clock
        self._subscribers: list[RelayTrack] = []
        self._last_request = -float("inf")
        self._pending: asyncio.TimerHandle | None = None
        self.closed = False
        self.packets_in = 0
        self.keyframes_in = 0
        self.keyframes_requested = 0
        self.keyframe_requests_coalesced = 0

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    @property
    def subscribers(self) -> list[RelayTrack]:
        """The current subscriber tracks (a copy)."""
        return list(self._subscribers)

    def push(self, packet: av.Packet) -> None:
        """Hand one encoded frame to every subscriber (event-loop thread)."""
        if self.closed:
            return
        self.packets_in += 1
        if packet.is_keyframe:
            self.keyframes_in += 1
        need_keyframe = False
        for sub in self._subscribers:
            need_keyframe |= sub._offer(packet)
        if need_keyframe:
            self.request_keyframe()

    def subscribe(self, name: str | None = None) -> RelayTrack:
        """A new subscriber track, held until a keyframe (one is requested)."""
        if self.closed:
            raise MediaStreamError("relay closed")
        track = RelayTrack(
            self, name or f"{self.name}/sub-{next(_ids)}", self._queue_size
        )
        self._subscribers.append(track)
        if self.kind == "video":
            track.counters.keyframes_requested += 1
            self.request_keyframe()
        return track

    def attach_sender(self, sender: RTCRtpSender, track: RelayTrack) -> None:
        """Send ``track`` on ``sender`` and route the sender's PLI/FIR upstream."""
        sender.replaceTrack(track)
        bind_keyframe_handler(sender, track.request_keyframe)

    def unsubscribe(self, track: RelayTrack) -> None:
        """Remove ``track`` (idempotent); it ends."""
        if track in self._subscribers:
            self._subscribers.remove(track)
            track._close()

    def request_keyframe(self) -> bool:
        """Ask upstream for a keyframe; ``False`` if coalesced into a later one.

        At most one request per ``keyframe_interval`` goes upstream; one made
        inside the window is sent when the window ends, so none is lost.
        """
        if self.closed or self.kind != "video":
            return False
        now = self._now()
        wait = self._last_request + self._interval - now
        if wait <= 0 and self._pending is None:
            self._send_request(now)
            return True
        self.keyframe_requests_coalesced += 1
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(max(wait, 0.0), self._fire_pending)
        return False

    def _fire_pending(self) -> None:
        self._pending = None
        if not self.closed:
            self._send_request(self._now())

    def _send_request(self, now: float) -> None:
        if self._request_upstream is not None and self._request_upstream() is False:
            # Upstream cannot ask yet (no packet from the publisher so far):
            # try again shortly instead of burning the window.
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(UPSTREAM_RETRY_S, self._fire_pending)
            return
        self._last_request = now
        self.keyframes_requested += 1

    def close(self) -> None:
        """End every subscriber and stop relaying."""
        self.closed = True
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        for sub in self._subscribers:
            sub._close()
        self._subscribers.clear()

    def stats(self) -> dict[str, object]:
        """JSON-safe relay counters and every subscriber's."""
        return {
            "kind": self.kind,
            "packets_in": self.packets_in,
            "keyframes_in": self.keyframes_in,
            "keyframes_requested": self.keyframes_requested,
            "keyframe_requests_coalesced": self.keyframe_requests_coalesced,
            "subscribers": [sub.stats() for sub in self._subscribers],
        }

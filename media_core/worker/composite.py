"""Composite feeds of a room: ``media.composite.*`` and ``media.layer``.

Mixed into ``MediaWorker``. A composite takes one published video track of a
room, burns overlay layers into it (``media_core.broadcast.CompositeFeed``)
and publishes the result in the same room as ``composite:<name>``, a track
that viewers subscribe to like any other; optionally it also writes live HLS
and an MP4 with a JSON timeline under the worker's ``output_root``. The
messages and replies are in ``docs/media-protocol.md``.

Names (``[A-Za-z0-9_-]{1,64}``) are unique per worker and name the output
directories, so nothing from a message ever becomes a path by itself. A
composite outlives its source's publisher (it waits for a rebind); it ends
with ``media.composite.stop``, ``media.close_room`` or the worker's ``close``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media_core.broadcast import (
    CompositeFeed,
    HlsSegmenter,
    Mp4Recorder,
    TimelineWriter,
    vitals_layer,
)
from media_core.broadcast.feed import DECODABLE
from media_core.compositor import EncoderSettings
from media_core.errors import (
    InvalidMessage,
    MediaError,
    ProtocolError,
    UnknownTrack,
    WorkerOverloaded,
)
from media_core.layers import Layer, LayerFactory, UpdatableLayer
from media_core.metrics import MetricsRegistry
from media_core.relay import TrackRelay
from media_core.tap import ReceiverTap
from media_core.worker.handlers import RoomHandlers
from media_core.worker.rooms import PublishedTrack, Room
from media_core.worker.transport import Message

logger = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
TRACK_PREFIX = "composite:"
#: The ``participant`` of every composite track in ``media.tracks``.
PARTICIPANT = "composite"
MAX_COMPOSITES = 4
MAX_LAYERS = 8
BITRATE_RANGE = (100_000, 20_000_000)
FPS_RANGE = (1, 60)
#: The default layer factories; the worker's ``layer_factories`` add to them.
DEFAULT_LAYER_FACTORIES: dict[str, LayerFactory] = {"vitals": vitals_layer}
#: The codec of every composite track: what the compositor encodes.
COMPOSITE_CODEC = RTCRtpCodecParameters(
    mimeType="video/H264",
    clockRate=90000,
    parameters={
        "level-asymmetry-allowed": "1",
        "packetization-mode": "1",
        "profile-level-id": "42e01f",
    },
)


class UnknownComposite(ProtocolError, LookupError):
    """No composite of that name in the room."""

    code = "unknown_composite"


class UnknownLayer(ProtocolError, LookupError):
    """No layer factory, or no layer of the composite, of that kind."""

    code = "unknown_layer"


class OutputUnavailable(ProtocolError):
    """HLS or recording asked of a worker without an output directory."""

    code = "output_unavailable"


@dataclass(eq=False)
class Composite:
    """One running composite feed and what the worker knows about it."""

    name: str
    room: Room
    feed: CompositeFeed
    layers: dict[str, Layer]
    published: PublishedTrack
    reply_to: str
    hls: str | None
    recording: dict[str, str] | None
    source_relay: TrackRelay | None = None
    #: Serialises binds and the stop of this composite across participants.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def started(self) -> Message:
        """The ``media.composite.started`` reply."""
        return {
            "type": "media.composite.started",
            "composite": self.name,
            "track": self.published.track_id,
            "source": self.feed.source_id,
            "hls": self.hls,
            "recording": dict(self.recording) if self.recording else None,
        }


class CompositeHandlers(RoomHandlers):
    """The composite handlers; ``_init_composites`` runs in the worker's init."""

    _output_root: Path | None
    _layer_factories: dict[str, LayerFactory]
    _composites: dict[str, Composite]
    metrics: MetricsRegistry

    def _init_composites(
        self,
        output_root: Path | None,
        layer_factories: Mapping[str, LayerFactory] | None,
    ) -> None:
        self._output_root = Path(output_root).resolve() if output_root else None
        self._layer_factories = {**DEFAULT_LAYER_FACTORIES, **(layer_factories or {})}
        self._composites = {}
        # Stage timings of every running composite (Prometheus: see
        # media_core.metrics.register_collector); a session per composite.
        self.metrics = MetricsRegistry()

    def _composite_handlers(self) -> dict[str, Callable[[Message], Awaitable[None]]]:
        return {
            "media.composite.start": self._on_composite_start,
            "media.composite.stop": self._on_composite_stop,
            "media.layer": self._on_layer,
        }

    # -- start -----------------------------------------------------------------

    async def _on_composite_start(self, message: Message) -> None:
        name = _name(message.get("name"))
        room = self._room(message)
        existing = self._composites.get(name)
        if existing is not None and existing.room is not room:
            raise InvalidMessage(f"composite {name} runs in another room")
        source_id = message.get("source")
        source = room.tracks.get(source_id) if isinstance(source_id, str) else None
        if source is None or source.participant == PARTICIPANT:
            raise UnknownTrack(f"no published track {source_id!r} to composite")
        codec = source.codec.mimeType.split("/")[1].lower()
        if source.kind != "video" or codec not in DECODABLE:
            raise UnknownTrack(f"track {source_id} is not H.264 or VP8 video")
        if existing is not None:
            await self._rebind(existing, source, codec)
            self._send(message["reply_to"], existing.started())
            return
        if len(self._composites) >= MAX_COMPOSITES:
            raise WorkerOverloaded(f"at most {MAX_COMPOSITES} composites per worker")
        settings = _settings(message)
        record, hls = _flag(message, "record"), _flag(message, "hls")
        specs = _layer_specs(message.get("layers", []), self._layer_factories)
        if (record or hls) and self._output_root is None:
            raise OutputUnavailable("this worker has no output directory")
        layers = {
            kind: _build(self._layer_factories[kind], spec) for kind, spec in specs
        }
        composite = self._new_composite(name, room, message, layers, settings)
        composite.feed.start()
        # Claimed before the first await, so a concurrent start of the same
        # name (another participant's inbox) finds it instead of a twin.
        self._composites[name] = composite
        try:
            await self._rebind(composite, source, codec)
        except BaseException:
            self._composites.pop(name, None)
            await composite.feed.stop()
            raise
        room.tracks[composite.published.track_id] = composite.published
        self._send(message["reply_to"], composite.started())
        self._announce(room)

    def _new_composite(
        self,
        name: str,
        room: Room,
        message: Message,
        layers: dict[str, Layer],
        settings: EncoderSettings,
    ) -> Composite:
        hls_sink = recorder = timeline = None
        hls_path: str | None = None
        recording: dict[str, str] | None = None
        root = self._output_root
        if root is not None and _flag(message, "hls"):
            directory = _inside(root, root / "hls" / name)
            hls_sink = HlsSegmenter(directory, name=f"hls-{name}")
            hls_path = f"hls/{name}/index.m3u8"
        if root is not None and _flag(message, "record"):
            stem = _recording_stem(_inside(root, root / "recordings" / name))
            recorder = Mp4Recorder(stem.with_suffix(".mp4"), name=f"rec-{name}")
            timeline = TimelineWriter(stem.with_name(stem.name + ".timeline.json"))
            rel = f"recordings/{name}/{stem.name}"
            recording = {"video": f"{rel}.mp4", "timeline": f"{rel}.timeline.json"}
        feed = CompositeFeed(
            name,
            list(layers.values()),
            settings=settings,
            hls=hls_sink,
            recorder=recorder,
            timeline=timeline,
            keyframe_interval=self._keyframe_interval,
            metrics=self.metrics.session(f"composite:{name}"),
        )
        published = PublishedTrack(
            f"{TRACK_PREFIX}{name}",
            PARTICIPANT,
            "video",
            COMPOSITE_CODEC,
            "composite",
            feed.output,
            # A composite track has no receiver: nothing uses ``tap`` for it.
            cast(ReceiverTap, None),
        )
        return Composite(
            name,
            room,
            feed,
            layers,
            published,
            message["reply_to"],
            hls_path,
            recording,
        )

    async def _rebind(
        self, composite: Composite, source: PublishedTrack, codec: str
    ) -> None:
        async with composite.lock:
            if composite.source_relay is source.relay and composite.feed.live:
                return  # the same live source: nothing to do, no needless IDR
            try:
                await composite.feed.bind(source.relay, codec, source.track_id)
            except MediaError as exc:
                detail = f"cannot composite {source.track_id}: {exc}"
                raise UnknownTrack(detail) from exc
            composite.source_relay = source.relay

    # -- layers and stop -------------------------------------------------------

    def _find(self, message: Message) -> Composite:
        room = self._room(message)
        name = message.get("composite")
        composite = self._composites.get(name) if isinstance(name, str) else None
        if composite is None or composite.room is not room:
            raise UnknownComposite(f"no composite {name!r} in this room")
        return composite

    async def _on_layer(self, message: Message) -> None:
        composite = self._find(message)
        kind, data = message.get("kind"), message.get("data")
        layer = composite.layers.get(kind) if isinstance(kind, str) else None
        if layer is None:
            raise UnknownLayer(f"composite {composite.name} has no {kind!r} layer")
        if not isinstance(layer, UpdatableLayer):
            raise InvalidMessage(f"the {kind} layer takes no updates")
        if not isinstance(data, dict):
            raise InvalidMessage("data must be an object")
        try:
            # Validating hundreds of annotations is pure Python: keep it off
            # the loop. Awaited, so one participant's updates stay in order.
            await asyncio.to_thread(layer.update, data)
        except (ValueError, TypeError, LookupError) as exc:
            raise InvalidMessage(f"{kind} data refused: {exc}") from exc

    async def _on_composite_stop(self, message: Message) -> None:
        composite = self._find(message)
        reply = await self._stop_composite(composite, "requested")
        self._send(message["reply_to"], reply)
        if self._rooms.get(composite.room.room_id) is composite.room:
            self._announce(composite.room)

    async def _stop_composite(self, composite: Composite, reason: str) -> Message:
        """Stop and forget ``composite``; its ``media.composite.stopped`` message."""
        self._composites.pop(composite.name, None)
        self.metrics.remove(f"composite:{composite.name}")
        track_id = composite.published.track_id
        if composite.room.tracks.get(track_id) is composite.published:
            del composite.room.tracks[track_id]
        async with composite.lock:
            info = await composite.feed.stop()
        recording = None
        if composite.recording is not None and info is not None:
            recording = {**composite.recording, **info}
        logger.info("worker %s: composite %s stopped", self.worker_id, composite.name)
        return {
            "type": "media.composite.stopped",
            "composite": composite.name,
            "reason": reason,
            "recording": recording,
        }

    # -- room and worker lifecycle ---------------------------------------------

    async def _on_close_room(self, message: Message) -> None:
        for composite in list(self._composites.values()):
            if composite.room.room_id == message["room"]:
                reply = await self._stop_composite(composite, "room_closed")
                self._send(composite.reply_to, reply)
        await super()._on_close_room(message)

    async def _on_leave(self, message: Message) -> None:
        room = self._rooms.get(message["room"])
        await super()._on_leave(message)
        if room is not None and any(c.room is room for c in self._composites.values()):
            # The room lives on while it has a composite (a broadcast outlasts
            # its publishers, who may come back and republish).
            self._rooms.setdefault(room.room_id, room)

    async def _close_composites(self) -> None:
        """Stop every composite and finish its files (worker shutdown)."""
        for composite in list(self._composites.values()):
            try:
                reply = await self._stop_composite(composite, "worker_closed")
            except Exception:  # noqa: BLE001  (shutdown goes on for the others)
                logger.exception("composite %s did not stop cleanly", composite.name)
                continue
            self._send(composite.reply_to, reply)

    def composite_stats(self) -> dict[str, Any]:
        """Every composite's feed figures, by name."""
        return {name: c.feed.stats() for name, c in self._composites.items()}


# -- validation --------------------------------------------------------------------


def _name(value: object) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise InvalidMessage("name must be 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def _flag(message: Message, key: str) -> bool:
    value = message.get(key, False)
    if not isinstance(value, bool):
        raise InvalidMessage(f"{key} must be true or false")
    return value


def _integer(message: Message, key: str, bounds: tuple[int, int]) -> int | None:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessage(f"{key} must be an integer")
    if not bounds[0] <= value <= bounds[1]:
        raise InvalidMessage(f"{key} must be in {bounds[0]}..{bounds[1]}")
    return value


def _settings(message: Message) -> EncoderSettings:
    bitrate = _integer(message, "bitrate", BITRATE_RANGE)
    fps = _integer(message, "fps", FPS_RANGE)
    defaults = EncoderSettings()
    return EncoderSettings(
        bitrate=bitrate or defaults.bitrate, fps=float(fps or defaults.fps)
    )


def _layer_specs(
    value: object, factories: Mapping[str, LayerFactory]
) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, list) or len(value) > MAX_LAYERS:
        raise InvalidMessage(f"layers must be a list of at most {MAX_LAYERS} objects")
    specs: list[tuple[str, dict[str, Any]]] = []
    for spec in value:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if not isinstance(kind, str):
            raise InvalidMessage('every layer is an object with a string "kind"')
        if kind not in factories:
            raise UnknownLayer(f"no layer kind {kind[:64]!r}; try {sorted(factories)}")
        if any(kind == k for k, _ in specs):
            raise InvalidMessage(f"layer kind {kind} given twice")
        specs.append((kind, spec))
    return specs


def _build(factory: LayerFactory, spec: dict[str, Any]) -> Layer:
    try:
        return factory(spec)
    except (ValueError, TypeError, LookupError) as exc:
        raise InvalidMessage(f"{spec.get('kind')} layer refused: {exc}") from exc


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, refused unless it lies under ``root`` (defence in depth)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise InvalidMessage("output path escapes the output directory")
    return resolved


def _recording_stem(directory: Path) -> Path:
    """``<directory>/<UTC time>``, with a counter if a recording has that name."""
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem, n = directory / base, 1
    while stem.with_suffix(".mp4").exists():
        stem, n = directory / f"{base}-{n}", n + 1
    return stem

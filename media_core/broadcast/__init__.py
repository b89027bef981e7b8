"""The broadcast and recording path: composite feed, HLS, MP4 and its timeline.

``CompositeFeed`` takes one published video track of a room, draws overlay
layers onto it (``media_core.compositor``) and re-publishes the result as a
track of the same room, while ``HlsSegmenter`` and ``Mp4Recorder`` (with a
``TimelineWriter``) write the same encoded output to disk off the event loop.
The media worker drives it through ``media.composite.*`` messages
(``docs/media-protocol.md``).
"""

from media_core.broadcast.feed import CompositeFeed
from media_core.broadcast.hls import HlsSegmenter
from media_core.broadcast.recorder import Mp4Recorder, TimelineWriter
from media_core.broadcast.stamping import CaptureClock, StampKeeper
from media_core.broadcast.vitals import VitalsOverlay, vitals_layer

__all__ = [
    "CaptureClock",
    "CompositeFeed",
    "HlsSegmenter",
    "Mp4Recorder",
    "StampKeeper",
    "TimelineWriter",
    "VitalsOverlay",
    "vitals_layer",
]

"""The overlay-layer protocol: how anything draws onto a frame.

media_core never knows who made a layer. The vitals panel, telestration
annotations and latency stamps all plug in through this one method.

Two optional extras, used by the composite feed (``media_core.broadcast``) and
checked with ``isinstance``: ``UpdatableLayer.update`` takes new state from the
web tier (``media.layer``), and ``TimelineLayer.timeline_event`` reports what a
recording's timeline should note. ``LayerFactory`` builds a layer from its
``layers`` entry of ``media.composite.start``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from media_core.canvas import YuvCanvas


@runtime_checkable
class Layer(Protocol):
    """Something that draws itself onto a frame.

    ``draw`` runs off the event loop (in the compositor's worker thread), so it
    may use numpy and OpenCV freely but must not touch asyncio objects.
    ``timestamp`` is the frame's presentation time in seconds.
    """

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Draw onto ``canvas`` in place for the frame at ``timestamp``."""


@runtime_checkable
class UpdatableLayer(Layer, Protocol):
    """A layer whose state the web tier replaces (``media.layer``)."""

    def update(self, data: Mapping[str, Any]) -> None:
        """Take new state from a JSON-safe dict; takes effect from a later frame.

        Called off the compositor thread (the worker runs it in a helper
        thread), so swap state under a lock or as one reference. Raise
        ``ValueError`` (or a subclass) for bad data, changing nothing.
        """


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One entry of a recording's timeline.

    ``timestamp`` is the media time (seconds, the compositor's ``timestamp``)
    the event belongs to; ``type`` names it (``"annotations"``, ``"vitals"``)
    and ``body`` holds its JSON-safe fields.
    """

    timestamp: float
    type: str
    body: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TimelineLayer(Layer, Protocol):
    """A layer that notes its state changes in a recording's timeline."""

    def timeline_event(self, timestamp: float, origin: float) -> TimelineEvent | None:
        """The event to record now, or ``None`` when nothing changed.

        Called on the event loop for every encoded output frame while a
        recording runs: ``timestamp`` is that frame's media time and
        ``origin`` the media time the recording started at (seconds), so any
        media time inside ``body`` can be given relative to the recording.
        Must be cheap; must not block.
        """


#: Builds a layer from its ``{"kind": ..., ...}`` spec; ``ValueError`` if bad.
LayerFactory = Callable[[Mapping[str, Any]], Layer]

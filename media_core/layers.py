"""The overlay-layer protocol: how anything draws onto a frame.

media_core never knows who made a layer. The vitals panel, telestration
annotations and latency stamps all plug in through this one method.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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

"""A layer that paints a fixed list of shapes, compiled once per frame size.

This is the simple annotation set used by benchmarks and demos; the real
telestration schema lives in ``surgery_guidance.telestration`` and plugs in
through the same ``Layer`` protocol.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from media_core.canvas import YuvCanvas
from media_core.draw.program import Program
from media_core.draw.shapes import Shape

logger = logging.getLogger(__name__)


class ShapeLayer:
    """Draws ``shapes`` in order on every frame; ``set_shapes`` replaces them.

    Rasterising happens on the first frame of each size (and after
    ``set_shapes``); later frames only replay the compiled stamps.
    """

    def __init__(self, shapes: Iterable[Shape] = ()):
        self._lock = threading.Lock()
        self._shapes: tuple[Shape, ...] = tuple(shapes)
        self._program = Program([], 0, 0)
        self._size: tuple[int, int] | None = None

    def set_shapes(self, shapes: Iterable[Shape]) -> None:
        """Replace the shape list (thread-safe; takes effect on the next frame)."""
        with self._lock:
            self._shapes = tuple(shapes)
            self._size = None

    def draw(self, canvas: YuvCanvas, timestamp: float) -> None:
        """Paint the shapes onto ``canvas``; ``timestamp`` is unused."""
        size = (canvas.width, canvas.height)
        with self._lock:
            if self._size != size:
                compiled = (shape.compile(*size) for shape in self._shapes)
                pieces = [c for c in compiled if c is not None]
                self._program = Program(pieces, *size)
                self._size = size
                logger.debug("compiled %s shapes for %sx%s", len(pieces), *size)
            program = self._program
        program.apply(canvas)

"""Overlay drawing straight into yuv420p planes, touching only covered pixels.

Colours are given as RGB(A) and converted once to BT.601 limited-range
Y/U/V (see ``colour``). Coordinates are luma pixels.
"""

from media_core.draw.colour import BLACK, WHITE, Colour, rgb_to_yuv
from media_core.draw.layer import ShapeLayer
from media_core.draw.program import Program
from media_core.draw.shapes import (
    Arrow,
    Circle,
    Group,
    Line,
    Polyline,
    Rect,
    Shape,
    Text,
    arrow,
    circle,
    draw,
    fill_rect,
    line,
    polyline,
    text,
)
from media_core.draw.stamp import Compiled, FlatCanvas, RectFill, Stamp
from media_core.draw.text import text_size, text_tile

__all__ = [
    "BLACK",
    "WHITE",
    "Arrow",
    "Circle",
    "Colour",
    "Compiled",
    "FlatCanvas",
    "Group",
    "Line",
    "Polyline",
    "Program",
    "Rect",
    "RectFill",
    "Shape",
    "ShapeLayer",
    "Stamp",
    "Text",
    "arrow",
    "circle",
    "draw",
    "fill_rect",
    "line",
    "polyline",
    "rgb_to_yuv",
    "text",
    "text_size",
    "text_tile",
]

"""The compositor: decode once, draw overlay layers, encode once, per feed."""

from media_core.compositor.core import Compositor
from media_core.compositor.encoding import (
    EncoderSettings,
    h264_level,
    is_keyframe_packet,
    open_decoder,
    open_encoder,
)

__all__ = [
    "Compositor",
    "EncoderSettings",
    "h264_level",
    "is_keyframe_packet",
    "open_decoder",
    "open_encoder",
]

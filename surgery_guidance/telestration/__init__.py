"""Pure annotation schema, geometry, rasteriser and tracking (no Django, no asyncio).

Coordinates in the schema are normalised to the video frame (0..1, x right,
y down); ``geometry`` converts them to luma pixels of any frame size.
"""

from surgery_guidance.telestration.live import LiveAnnotationLayer
from surgery_guidance.telestration.rasterise import AnnotationLayer
from surgery_guidance.telestration.schema import (
    Annotation,
    AnnotationError,
    AnnotationState,
    Kind,
    Op,
    OpKind,
    Visible,
    parse_op,
)
from surgery_guidance.telestration.tracking import (
    AnnotationTracker,
    TrackerConfig,
    TrackResult,
    TrackStatus,
)

__all__ = [
    "Annotation",
    "AnnotationError",
    "AnnotationLayer",
    "AnnotationState",
    "AnnotationTracker",
    "Kind",
    "LiveAnnotationLayer",
    "Op",
    "OpKind",
    "TrackResult",
    "TrackStatus",
    "TrackerConfig",
    "Visible",
    "parse_op",
]

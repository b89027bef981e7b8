"""Synthetic video sources for demos, tests and benchmarks."""

from media_core.sources.base import VIDEO_TIME_BASE, VideoSource
from media_core.sources.endoscopy import EndoscopySource
from media_core.sources.pattern import TestPatternSource

__all__ = ["VIDEO_TIME_BASE", "EndoscopySource", "TestPatternSource", "VideoSource"]

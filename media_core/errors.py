"""Exceptions raised by the media core.

They subclass builtins where that helps callers, as PyAV does.
"""


class MediaError(Exception):
    """Base class of every media-core error."""


class BadFrame(MediaError, ValueError):
    """A frame has the wrong format, size or content for the operation."""


class CompositorClosed(MediaError):
    """The compositor has stopped and has no more packets to give."""

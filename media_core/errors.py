"""Exceptions raised by the media core.

They subclass builtins where that helps callers, as PyAV does.
"""


class MediaError(Exception):
    """Base class of every media-core error."""


class BadFrame(MediaError, ValueError):
    """A frame has the wrong format, size or content for the operation."""


class CompositorClosed(MediaError):
    """The compositor has stopped and has no more packets to give."""


class AiortcInternalsChanged(MediaError, RuntimeError):
    """aiortc's private internals no longer match what the tap and fixes rely on."""


class ProtocolError(MediaError):
    """A web-tier message the worker cannot act on; ``code`` is the protocol's.

    The codes are those of ``docs/media-protocol.md`` (``media.error``).
    """

    code = "invalid_message"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidMessage(ProtocolError, ValueError):
    """A message is missing fields or has the wrong types."""

    code = "invalid_message"


class MalformedSdp(ProtocolError, ValueError):
    """An SDP or ICE candidate does not parse or does not fit the connection."""

    code = "malformed_sdp"


class UnknownPeer(ProtocolError, LookupError):
    """No such peer connection for this participant."""

    code = "unknown_peer"


class StaleSession(ProtocolError, LookupError):
    """The participant's media belongs to a newer socket than the sender's."""

    code = "stale_session"


class UnknownTrack(ProtocolError, LookupError):
    """No such published track in the room."""

    code = "unknown_track"


class UnknownRoom(ProtocolError, LookupError):
    """The worker hosts no such room."""

    code = "unknown_room"


class RateLimited(ProtocolError):
    """Too many requests of this kind; try again later."""

    code = "rate_limited"


class WorkerOverloaded(ProtocolError):
    """The worker has no capacity for this participant's messages."""

    code = "worker_overloaded"

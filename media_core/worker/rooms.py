"""What a media worker holds per room: published tracks and participants."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media_core.relay import RelayTrack, TrackRelay
from media_core.tap import ReceiverTap

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class PublishedTrack:
    """One track a participant publishes, tapped into its relay."""

    track_id: str
    participant: str
    kind: str
    codec: RTCRtpCodecParameters
    label: str
    relay: TrackRelay
    tap: ReceiverTap
    #: The mid of the publisher's transceiver (``None``: not from a browser).
    mid: str | None = None

    def describe(self) -> dict[str, str | None]:
        """The ``media.tracks`` entry for this track."""
        return {
            "track": self.track_id,
            "participant": self.participant,
            "kind": self.kind,
            "codec": self.codec.mimeType.split("/")[1].lower(),
            "label": self.label,
            "mid": self.mid,
        }


@dataclass(eq=False)
class Subscription:
    """One relayed track on a participant's ``sub`` connection."""

    track_id: str
    transceiver: RTCRtpTransceiver
    track: RelayTrack


@dataclass(eq=False)
class Participant:
    """A participant's connections, subscriptions and reply channel."""

    participant_id: str
    reply_to: str
    #: When the owning socket opened (``opened``, ns; 0 if not given).
    opened: int = 0
    pub: RTCPeerConnection | None = None
    sub: RTCPeerConnection | None = None
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    #: A ``sub`` renegotiation is owed once the pending offer is answered.
    renegotiate: bool = False

    def pc(self, name: str) -> RTCPeerConnection | None:
        """The ``pub`` or ``sub`` connection, if open."""
        return self.pub if name == "pub" else self.sub if name == "sub" else None


@dataclass(eq=False)
class Room:
    """A room hosted by this worker."""

    room_id: str
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The channel-layer group of the room."""
        return f"room.{self.room_id}"

    def describe_tracks(self) -> list[dict[str, str | None]]:
        """The room's whole current track list, for ``media.tracks``."""
        return [track.describe() for track in self.tracks.values()]

    def tracks_of(self, participant_id: str) -> list[PublishedTrack]:
        """The tracks ``participant_id`` publishes."""
        return [t for t in self.tracks.values() if t.participant == participant_id]


def json_safe(value: Any) -> Any:
    """Primitives, lists and dicts only (RTC stats carry datetimes and enums)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


async def rtc_stats(pc: RTCPeerConnection | None) -> dict[str, Any]:
    """A JSON-safe copy of ``pc.getStats()`` keyed by stats id (RTCP figures)."""
    if pc is None:
        return {}
    try:
        report = await asyncio.wait_for(pc.getStats(), 2.0)
    except (TimeoutError, ConnectionError):
        return {}
    out: dict[str, Any] = {}
    for key, stats in report.items():
        fields = {k: v for k, v in vars(stats).items() if k != "timestamp"}
        out[key] = json_safe(fields)
    return out

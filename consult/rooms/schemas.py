"""Schemas of the room websocket's inbound messages."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from consult.ws import Message

SDP_MAX = 64_000


class Hello(Message):
    """A (re)connecting client: its session and the last chat line it holds."""

    type: Literal["hello"]
    session: uuid.UUID
    last_chat_seq: int = Field(ge=0, le=10_000_000)


class ChatSend(Message):
    type: Literal["chat.send"]
    client_id: uuid.UUID
    body: str = Field(min_length=1, max_length=4000)


class ChatHistory(Message):
    type: Literal["chat.history"]
    after_seq: int = Field(ge=0, le=10_000_000)


class State(Message):
    """The participant's own microphone, camera and extra sources."""

    type: Literal["state"]
    audio: bool
    video: bool
    sources: list[str] = Field(default_factory=list, max_length=8)
    clock_offset_ms: float | None = Field(default=None, ge=-86_400_000, le=86_400_000)


class Speaking(Message):
    type: Literal["speaking"]
    level: float = Field(ge=0, le=1)


class HostAction(Message):
    type: Literal["host"]
    action: Literal["mute", "remove", "lock", "unlock", "end"]
    participant: str | None = Field(default=None, max_length=64)


class ClockPing(Message):
    type: Literal["clock.ping"]
    t0: float = Field(ge=0, le=1e14)


class Quality(Message):
    """A few seconds of the client's getStats() figures and stamp latencies."""

    type: Literal["quality"]
    session: uuid.UUID
    bitrate_kbps: float | None = Field(default=None, ge=0, le=1_000_000)
    fps: float | None = Field(default=None, ge=0, le=240)
    width: int | None = Field(default=None, ge=0, le=8192)
    height: int | None = Field(default=None, ge=0, le=8192)
    loss_pct: float | None = Field(default=None, ge=0, le=100)
    jitter_ms: float | None = Field(default=None, ge=0, le=60_000)
    rtt_ms: float | None = Field(default=None, ge=0, le=60_000)
    g2g_ms: float | None = Field(default=None, ge=0, le=60_000)
    g2g_samples: list[float] = Field(default_factory=list, max_length=120)
    frozen: bool = False
    per_sender: dict[str, Any] = Field(default_factory=dict, max_length=32)


class MediaOffer(Message):
    type: Literal["media.offer"]
    pc: Literal["pub"]
    sdp: str = Field(min_length=10, max_length=SDP_MAX)


def sdp_sending_kinds(sdp: str) -> set[str]:
    """The media kinds ("audio", "video") an SDP offers to send.

    A section sends unless its direction is ``recvonly`` or ``inactive`` (the
    default is ``sendrecv``) or it is rejected (port 0 without ``bundle-only``).
    Data channels (``m=application``) carry no media and are not counted.
    """
    kinds: set[str] = set()
    for section in sdp.replace("\r\n", "\n").split("\nm=")[1:]:
        lines = section.split("\n")
        head = lines[0].split()
        if len(head) < 2:
            continue
        attributes = {line.strip() for line in lines[1:]}
        rejected = head[1] == "0" and "a=bundle-only" not in attributes
        silent = {"a=recvonly", "a=inactive"} & attributes
        if head[0] in ("audio", "video") and not rejected and not silent:
            kinds.add(head[0])
    return kinds


class MediaAnswer(Message):
    type: Literal["media.answer"]
    pc: Literal["sub"]
    sdp: str = Field(min_length=10, max_length=SDP_MAX)


class IceCandidate(Message):
    type: Literal["media.ice"]
    pc: Literal["pub", "sub"]
    candidate: dict[str, Any] | None = Field(default=None, max_length=8)


class MediaSubscribe(Message):
    type: Literal["media.subscribe", "media.unsubscribe"]
    tracks: list[str] = Field(min_length=1, max_length=32)


class MediaKeyframe(Message):
    type: Literal["media.keyframe"]
    track: str = Field(min_length=1, max_length=128)


class MediaStats(Message):
    type: Literal["media.stats"]

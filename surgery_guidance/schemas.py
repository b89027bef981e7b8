"""Schemas of the guidance websocket's inbound messages (``docs/guidance.md``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from consult.rooms.schemas import SDP_MAX
from consult.ws import Message


class Hello(Message):
    """A (re)connecting client and the last annotation ``seq`` it holds."""

    type: Literal["hello"]
    last_seq: int = Field(ge=0, le=100_000_000)


class Annotate(Message):
    """One telestration operation (validated in full by ``telestration.parse_op``)."""

    type: Literal["annotate"]
    op: dict[str, Any]


class Source(Message):
    """The surgeon names the published track that is the theatre camera."""

    type: Literal["source"]
    track: str = Field(min_length=1, max_length=200)
    #: The surgeon's clock offset (server − browser, ms) as the room estimated it.
    clock_offset_ms: float | None = Field(default=None, ge=-86_400_000, le=86_400_000)


class QuestionAsk(Message):
    type: Literal["question.ask"]
    client_id: uuid.UUID
    body: str = Field(min_length=1, max_length=2000)


class QuestionModerate(Message):
    type: Literal["question.moderate"]
    id: uuid.UUID
    decision: Literal["approve", "reject"]


class End(Message):
    type: Literal["end"]


class ClockPing(Message):
    type: Literal["clock.ping"]
    t0: float = Field(ge=0, le=1e14)


class Latency(Message):
    """What this client measures of the picture it acts on (glass to glass)."""

    type: Literal["latency"]
    p50_ms: float | None = Field(default=None, ge=0, le=600_000)
    p95_ms: float | None = Field(default=None, ge=0, le=600_000)


# -- watching (view-only media) ----------------------------------------------------


class MediaSubscribe(Message):
    type: Literal["media.subscribe", "media.unsubscribe"]
    tracks: list[str] = Field(min_length=1, max_length=4)


class MediaAnswer(Message):
    type: Literal["media.answer"]
    pc: Literal["sub", "pub"]
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


class MediaIce(Message):
    type: Literal["media.ice"]
    pc: Literal["sub", "pub"]
    candidate: dict[str, Any] | None


class MediaOffer(Message):
    """Accepted only to be refused: viewers never publish (4403)."""

    type: Literal["media.offer"]
    pc: str = Field(max_length=8)
    sdp: str = Field(max_length=SDP_MAX)


class MediaKeyframe(Message):
    type: Literal["media.keyframe"]
    track: str = Field(min_length=1, max_length=200)

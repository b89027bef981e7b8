"""Schemas of the scheduling websockets' inbound messages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from consult.ws import Message


class DeviceChecks(Message):
    """The waiting page's camera, microphone and connection checks."""

    type: Literal["checks"]
    camera: bool
    microphone: bool
    rtt_ms: float | None = Field(default=None, ge=0, le=60_000)


class Ping(Message):
    """A clock and round-trip probe; ``t0`` is the client's clock in ms."""

    type: Literal["ping"]
    t0: float = Field(ge=0, le=1e14)


class Admit(Message):
    """A clinician admits the patient of one appointment."""

    type: Literal["admit"]
    appointment: str = Field(min_length=32, max_length=36)

"""Schemas of the emergency websockets' inbound messages (and the HTTP ingest).

Sizes are bounded: a waveform batch holds at most ``MAX_WAVEFORM_SAMPLES``
(8 s at 250 Hz, 4 s at 500 Hz), a ``batches`` message at most
``MAX_BATCHES_PER_MESSAGE`` batches.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from consult.emergency.ingest import BatchIn
from consult.ws import Message

MAX_WAVEFORM_SAMPLES = 2000
MAX_BATCHES_PER_MESSAGE = 32
MAX_RATE_HZ = 1000.0
DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]
# A numeric reading as sent: a number, null, or a device's text ("---", "NaN").
Reading = float | int | Annotated[str, Field(max_length=16)] | None


class Numerics(BaseModel):
    """One set of numerics; every field optional, plausibility checked later."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hr: Reading = None
    spo2: Reading = None
    sbp: Reading = None
    dbp: Reading = None
    rr: Reading = None
    temp_c: Reading = None
    etco2: Reading = None
    gcs: Reading = None
    glucose: Reading = None
    acvpu: Annotated[str, Field(max_length=8)] | None = None
    supplemental_o2: bool | None = None


class NumericsPayload(BaseModel):
    """``payload`` of a numerics batch."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    values: Numerics


class WaveformPayload(BaseModel):
    """``payload`` of a waveform batch: integer samples (ECG in microvolts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lead: Annotated[str, Field(max_length=8)] = "II"
    unit: Literal["uV", "permille"] = "uV"
    samples: Annotated[
        list[Annotated[int, Field(ge=-32768, le=32767)]],
        Field(min_length=1, max_length=MAX_WAVEFORM_SAMPLES),
    ]


class BatchFields(BaseModel):
    """One batch of the lossless uplink (see ``ingest.py`` for the hash)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    device: DeviceId
    stream: uuid.UUID
    seq: int = Field(ge=0, le=2**53)
    kind: Literal["numerics", "ecg", "pleth"]
    sample_t0: float = Field(ge=0, le=1e14, description="Epoch milliseconds.")
    rate_hz: float = Field(default=0, ge=0, le=MAX_RATE_HZ)
    n_samples: int = Field(ge=1, le=MAX_WAVEFORM_SAMPLES)
    payload: dict[str, Any]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _payload_fits_kind(self) -> BatchFields:
        if self.kind == "numerics":
            NumericsPayload.model_validate(self.payload)
            if self.n_samples != 1:
                raise ValueError("numerics batches hold one set")
        else:
            wave = WaveformPayload.model_validate(self.payload)
            if len(wave.samples) != self.n_samples:
                raise ValueError("n_samples does not match the samples")
            if self.rate_hz <= 0:
                raise ValueError("waveforms need rate_hz")
        return self

    def sample_t0_datetime(self) -> datetime:
        """``sample_t0`` as an aware UTC datetime."""
        return epoch_ms(self.sample_t0)


class Batch(BatchFields, Message):
    """``{"type": "batch", ...}``: one batch."""

    type: Literal["batch"]


class Batches(Message):
    """``{"type": "batches", "items": [...]}``: an outbox flush in one transaction."""

    type: Literal["batches"]
    items: Annotated[
        list[BatchFields], Field(min_length=1, max_length=MAX_BATCHES_PER_MESSAGE)
    ]


class Hello(Message):
    """Resume a stream: the server answers with ``state``."""

    type: Literal["hello"]
    device: DeviceId
    stream: uuid.UUID
    last_acked: int = Field(default=-1, ge=-1, le=2**53)


class Location(Message):
    """A geolocation fix; ``at`` is epoch milliseconds."""

    type: Literal["location"]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    speed_mps: float | None = Field(default=None, ge=0, le=150)
    heading: float | None = Field(default=None, ge=0, le=360)
    at: float = Field(ge=0, le=1e14)


class Ping(Message):
    """Heartbeat and clock probe; ``t0`` is the client's clock in ms."""

    type: Literal["ping"]
    t0: float = Field(ge=0, le=1e14)


class Subscribe(Message):
    """A board opens one case's live waveforms."""

    type: Literal["subscribe"]
    case: uuid.UUID


class Unsubscribe(Message):
    """A board closes one case's live waveforms."""

    type: Literal["unsubscribe"]
    case: uuid.UUID


def epoch_ms(value: float) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000.0, tz=UTC)


def batch_in(message: BatchFields) -> BatchIn:
    """A validated batch as the ingest service takes it."""
    return BatchIn(
        device_id=message.device,
        stream_id=message.stream,
        seq=message.seq,
        kind=message.kind,
        sample_t0=message.sample_t0_datetime(),
        rate_hz=message.rate_hz,
        n_samples=message.n_samples,
        payload=message.payload,
        sha256=message.sha256,
    )

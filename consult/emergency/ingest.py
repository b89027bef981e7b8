"""Idempotent vitals ingest: the server side of the lossless uplink protocol.

Each batch is identified by ``(device_id, stream_id, seq)``, with ``seq``
contiguous from 0 within a stream. Ingest runs in one transaction: the
stream row is locked, new batches are inserted (a conflict on the unique key
does nothing), the stream's ``acked_through`` (highest contiguous seq) is
advanced, NEWS2 is updated, and fan-out is queued for after the commit.
The caller acknowledges only after this function returns, i.e. after the
commit, so an ack always names data that is durably stored.

``sha256`` is the hex SHA-256 of the UTF-8 canonical JSON of ``payload``:
keys sorted, no whitespace (``json.dumps(p, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)``; in a browser, a key-sorted
``JSON.stringify``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consult.emergency import vitals
from consult.emergency.models import (
    EmergencyCase,
    StreamKind,
    VitalsBatch,
    VitalsStream,
)
from consult.emergency.selectors import crew_case_get
from consult.exceptions import ConsultError
from consult.records.context import AccessContext

logger = logging.getLogger(__name__)
MAX_MISSING_REPORTED = 200
# At most one stored NEWS2 score per case per this many seconds unless it changes.
NEWS2_HISTORY_EVERY_S = 60


@dataclass(frozen=True, slots=True)
class BatchIn:
    """One validated inbound batch (see ``schemas.Batch``)."""

    device_id: str
    stream_id: uuid.UUID
    seq: int
    kind: str
    sample_t0: datetime
    rate_hz: float
    n_samples: int
    payload: dict[str, Any]
    sha256: str


@dataclass(frozen=True, slots=True)
class StreamAck:
    """Where one stream stands after an ingest."""

    device: str
    stream: str
    acked_through: int
    missing: list[int]
    duplicates: int = 0

    def message(self) -> dict[str, Any]:
        """The ``ack`` message sent to the device."""
        return {
            "type": "ack",
            "device": self.device,
            "stream": self.stream,
            "acked_through": self.acked_through,
            "missing": self.missing,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Acks per stream, and per-batch refusals (``{"stream","seq","code"}``)."""

    acks: list[StreamAck]
    errors: list[dict[str, Any]] = field(default_factory=list)
    inserted: int = 0


def payload_sha256(payload: Any) -> str:
    """The hash a batch must carry (canonical JSON, see the module docstring)."""
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )  # NaN, if a local caller passes one, hashes as the token NaN
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def missing_seqs(stream: VitalsStream, present: list[int]) -> list[int]:
    """Seqs between ``acked_through`` and ``max_seq`` not stored (bounded)."""
    have = set(present)
    gaps: list[int] = []
    for seq in range(stream.acked_through + 1, stream.max_seq):
        if seq not in have:
            gaps.append(seq)
            if len(gaps) >= MAX_MISSING_REPORTED:
                break
    return gaps


def advance(
    stream: VitalsStream, *, had_gaps: bool, new: set[int], pending: set[int]
) -> list[int]:
    """Move ``acked_through`` over the contiguous run; return the stored seqs above.

    ``new`` are the seqs this ingest adds, ``pending`` every seq of the stream
    written in this transaction but not inserted yet (a group commit inserts
    at the end). Without earlier gaps everything up to ``acked_through`` was
    complete and nothing above it was stored, so the new seqs alone decide
    (no query).
    """
    if not had_gaps:
        seq = stream.acked_through
        while seq + 1 in new:
            seq += 1
        stream.acked_through = seq
        return sorted(s for s in new if s > seq)
    stored = VitalsBatch.objects.filter(
        vitals_stream=stream, seq__gt=stream.acked_through
    ).values_list("seq", flat=True)
    above = sorted(set(stored) | {s for s in pending if s > stream.acked_through})
    for seq in above:
        if seq != stream.acked_through + 1:
            break
        stream.acked_through = seq
    return [s for s in above if s > stream.acked_through]


def stream_state(
    *, actor: Any, case_id: object, device_id: str, stream_id: uuid.UUID
) -> StreamAck:
    """The server's view of one stream (the reply to ``hello``)."""
    case = crew_case_get(actor, case_id)
    stream = VitalsStream.objects.filter(
        device_id=device_id, stream_id=stream_id
    ).first()
    if stream is None:
        return StreamAck(device_id, str(stream_id), -1, [])
    if stream.case_id != case.pk:
        raise ConsultError(
            "This stream belongs to another case.", code="stream_conflict"
        )
    above = list(
        VitalsBatch.objects.filter(vitals_stream=stream, seq__gt=stream.acked_through)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    return StreamAck(
        device_id, str(stream_id), stream.acked_through, missing_seqs(stream, above)
    )


def _json_safe(value: Any) -> Any:
    """Non-finite floats (which JSON and jsonb refuse) become their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def batch_row(case: EmergencyCase, stream: VitalsStream, batch: BatchIn) -> VitalsBatch:
    flags: list[str] = []
    if batch.kind == StreamKind.NUMERICS:
        _valid, flags = vitals.check_numerics(batch.payload.get("values", {}))
    return VitalsBatch(
        case=case,
        vitals_stream=stream,
        device_id=batch.device_id,
        stream_id=batch.stream_id,
        seq=batch.seq,
        kind=batch.kind,
        sample_t0=batch.sample_t0,
        rate_hz=batch.rate_hz,
        n_samples=batch.n_samples,
        payload=_json_safe(batch.payload),
        sha256=batch.sha256,
        flags=flags,
    )


def vitals_ingest(
    *, actor: Any, case_id: object, batches: list[BatchIn], ctx: AccessContext
) -> IngestResult:
    """Store the batches idempotently and say how far each stream is complete.

    Duplicates (same key, same hash) are counted and acknowledged again. A
    batch whose hash does not match its payload is refused (``hash_mismatch``)
    and not stored; one that reuses a stored seq with different content gets
    ``seq_conflict`` (the first one stays). Raises ``NotFound`` and
    ``PermissionDenied`` for cases outside the actor's crew. Crew sockets go
    through ``ingest_queue.IngestQueue``, which stores many of these at once.
    """
    from consult.emergency.group_commit import Submission, ingest_many

    (outcome,) = ingest_many([Submission(actor, case_id, batches, ctx)])
    if isinstance(outcome, ConsultError):
        raise outcome
    return outcome

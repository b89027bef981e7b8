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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from consult.emergency import events, vitals
from consult.emergency.models import (
    CaseEvent,
    EmergencyCase,
    News2Score,
    StreamKind,
    VitalsBatch,
    VitalsStream,
)
from consult.emergency.selectors import crew_case_get, parse_case_id, require_crew
from consult.exceptions import ConsultError, NotFound
from consult.records.access import patient_access
from consult.records.context import AccessContext
from consult.records.models import AuditEvent

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


def _missing(stream: VitalsStream, present: list[int]) -> list[int]:
    """Seqs between ``acked_through`` and ``max_seq`` not stored (bounded)."""
    have = set(present)
    gaps: list[int] = []
    for seq in range(stream.acked_through + 1, stream.max_seq):
        if seq not in have:
            gaps.append(seq)
            if len(gaps) >= MAX_MISSING_REPORTED:
                break
    return gaps


def _advance(stream: VitalsStream, *, had_gaps: bool, new: set[int]) -> list[int]:
    """Move ``acked_through`` over the contiguous run; return the stored seqs above.

    Without earlier gaps everything up to ``acked_through`` was complete and
    nothing above it was stored, so the new seqs alone decide (no query).
    """
    if not had_gaps:
        seq = stream.acked_through
        while seq + 1 in new:
            seq += 1
        stream.acked_through = seq
        return sorted(s for s in new if s > seq)
    above = list(
        VitalsBatch.objects.filter(vitals_stream=stream, seq__gt=stream.acked_through)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
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
        device_id, str(stream_id), stream.acked_through, _missing(stream, above)
    )


def _stream_for(
    case: EmergencyCase, first: BatchIn, actor: Any, ctx: AccessContext
) -> VitalsStream | str:
    """The locked stream row, created on first use (audited); or an error code."""
    key = {"device_id": first.device_id, "stream_id": first.stream_id}
    stream = VitalsStream.objects.select_for_update().filter(**key).first()
    created = False
    if stream is None:
        try:
            with transaction.atomic():
                stream = VitalsStream.objects.create(**key, case=case, kind=first.kind)
            created = True
        except IntegrityError:  # another request created it first
            stream = VitalsStream.objects.select_for_update().get(**key)
    if stream.case_id != case.pk:
        return "stream_conflict"
    if stream.kind != first.kind:
        return "stream_kind_mismatch"
    if created:
        with patient_access(
            actor=actor,
            patient_id=case.patient_id,
            action=AuditEvent.Action.CREATE,
            ctx=ctx,
        ) as grant:
            grant.object_type, grant.object_id = "vitals_stream", str(first.stream_id)
            grant.extra.update({"device": first.device_id, "kind": first.kind})
    return stream


def _json_safe(value: Any) -> Any:
    """Non-finite floats (which JSON and jsonb refuse) become their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _row(case: EmergencyCase, stream: VitalsStream, batch: BatchIn) -> VitalsBatch:
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


def _score(case: EmergencyCase, rows: list[VitalsBatch]) -> None:
    """Fold new numerics into the case's latest values and NEWS2 (case locked)."""
    now = timezone.now()
    latest = case.latest_vitals
    for row in sorted(rows, key=lambda r: r.sample_t0):
        valid, _flags = vitals.check_numerics(row.payload.get("values", {}))
        latest = vitals.merge_latest(latest, valid, row.sample_t0)
    total, band, scores = vitals.score_latest(latest, now)
    history = list(
        News2Score.objects.filter(case=case, at__gte=now - vitals.TREND_WINDOW)
        .order_by("at")
        .values_list("at", "total")
    )
    case.latest_vitals = latest
    case.news2_total, case.news2_band = total, band
    case.news2_trend = vitals.trend_of(history, total)
    if total is not None:
        last = News2Score.objects.filter(case=case).order_by("-at").first()
        if (
            last is None
            or last.total != total
            or (now - last.at).total_seconds() >= NEWS2_HISTORY_EVERY_S
        ):
            News2Score.objects.create(
                case=case, at=now, total=total, band=band, scores=scores
            )
    if case.first_vitals_at is None:
        case.first_vitals_at = min(r.sample_t0 for r in rows)
        CaseEvent.objects.create(
            case=case, kind=CaseEvent.Kind.FIRST_VITALS, at=now, detail={}
        )
    case.updated_at = now
    case.save(
        update_fields=[
            "latest_vitals",
            "news2_total",
            "news2_band",
            "news2_trend",
            "first_vitals_at",
            "updated_at",
        ]
    )


def _fan_out(case: EmergencyCase, rows: list[VitalsBatch]) -> None:
    for row in sorted(rows, key=lambda r: (str(r.stream_id), r.seq)):
        base = {
            "case": str(case.pk),
            "device": row.device_id,
            "stream": str(row.stream_id),
            "seq": row.seq,
            "kind": row.kind,
            "sample_t0": row.sample_t0.isoformat(),
        }
        if row.kind == StreamKind.NUMERICS:
            events.vitals_on_commit(
                case.destination_id,
                str(case.pk),
                {
                    **base,
                    "values": row.payload.get("values", {}),
                    "flags": row.flags,
                    "news2": {
                        "total": case.news2_total,
                        "band": case.news2_band,
                        "trend": case.news2_trend,
                    },
                },
            )
        else:
            events.waveform_on_commit(
                str(case.pk),
                {
                    **base,
                    "rate_hz": row.rate_hz,
                    "n_samples": row.n_samples,
                    "payload": row.payload,
                },
            )


def _crew_case(actor: Any, case_id: object) -> EmergencyCase:
    """The case of the actor's own crew, with only what ingest needs (hot path)."""
    require_crew(actor)
    case = (
        EmergencyCase.objects.filter(
            pk=parse_case_id(case_id),
            crew_id=actor.crew_id,
            service_id=actor.organisation_id,
        )
        .only("id", "patient_id", "destination_id", "crew_id", "service_id")
        .first()
    )
    if case is None:
        raise NotFound()
    return case


@transaction.atomic
def vitals_ingest(
    *, actor: Any, case_id: object, batches: list[BatchIn], ctx: AccessContext
) -> IngestResult:
    """Store the batches idempotently and say how far each stream is complete.

    Duplicates (same key, same hash) are counted and acknowledged again. A
    batch whose hash does not match its payload is refused (``hash_mismatch``)
    and not stored; one that reuses a stored seq with different content gets
    ``seq_conflict`` (the first one stays). Raises ``NotFound`` and
    ``PermissionDenied`` for cases outside the actor's crew.
    """
    case = _crew_case(actor, case_id)
    groups: dict[tuple[str, uuid.UUID], list[BatchIn]] = defaultdict(list)
    for batch in batches:
        groups[(batch.device_id, batch.stream_id)].append(batch)
    acks: list[StreamAck] = []
    errors: list[dict[str, Any]] = []
    new_rows: list[VitalsBatch] = []
    for (device_id, stream_id), group in groups.items():
        stream = _stream_for(case, group[0], actor, ctx)
        if isinstance(stream, str):
            errors += [
                {"stream": str(stream_id), "seq": b.seq, "code": stream} for b in group
            ]
            continue
        # Only seqs at or below the highest stored one can be duplicates.
        known_range = [b.seq for b in group if b.seq <= stream.max_seq]
        stored = (
            dict(
                VitalsBatch.objects.filter(
                    vitals_stream=stream, seq__in=known_range
                ).values_list("seq", "sha256")
            )
            if known_range
            else {}
        )
        had_gaps = stream.max_seq > stream.acked_through
        fresh: dict[int, VitalsBatch] = {}
        duplicates = 0
        for batch in group:
            code = None
            if batch.kind != stream.kind:
                code = "stream_kind_mismatch"
            elif payload_sha256(batch.payload) != batch.sha256:
                code = "hash_mismatch"
            elif batch.seq in stored or batch.seq in fresh:
                known = stored.get(batch.seq) or fresh[batch.seq].sha256
                if known == batch.sha256:
                    duplicates += 1
                else:
                    code = "seq_conflict"
            else:
                fresh[batch.seq] = _row(case, stream, batch)
            if code:
                errors.append(
                    {"stream": str(stream_id), "seq": batch.seq, "code": code}
                )
        rows = list(fresh.values())
        VitalsBatch.objects.bulk_create(rows, ignore_conflicts=True)
        if rows:
            stream.max_seq = max(stream.max_seq, *fresh)
            stream.batches += len(rows)
            stream.last_batch_at = timezone.now()
        above = _advance(stream, had_gaps=had_gaps, new=set(fresh))
        stream.save(
            update_fields=["acked_through", "max_seq", "batches", "last_batch_at"]
        )
        acks.append(
            StreamAck(
                device_id,
                str(stream_id),
                stream.acked_through,
                _missing(stream, above),
                duplicates,
            )
        )
        new_rows += rows
    numerics = [r for r in new_rows if r.kind == StreamKind.NUMERICS]
    if numerics:
        case = EmergencyCase.objects.select_for_update().get(pk=case.pk)
        _score(case, numerics)
    _fan_out(case, new_rows)
    return IngestResult(acks, errors, len(new_rows))

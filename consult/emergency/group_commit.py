"""Group commit: the vitals of many ambulances stored in one transaction.

Two hundred ambulances sending four batches a second each made one
transaction, five queries and one channel-layer trip per batch: the
database round trips and the fan-out, not the data, were the cost. So every
crew socket of a process hands its batches to one ``IngestQueue``
(``ingest_queue.py``); a flush
takes whatever has queued meanwhile and ``ingest_many`` stores it with a
fixed number of set-based statements, whatever the number of ambulances:

1. the cases, checked against each submitter's crew (one query);
2. the streams, locked in primary-key order so that concurrent flushes
   cannot deadlock (one query; a new stream is created, audited, in a
   savepoint of its own);
3. duplicates looked up only for seqs at or below a stream's highest stored
   one (a resend), gaps only for streams that have one;
4. every new batch in one ``INSERT ... ON CONFLICT DO NOTHING``, every
   stream in one ``UPDATE``;
5. NEWS2 for the cases that got numerics: their rows locked, their recent
   scores read, new scores and first-vitals events inserted, each in one
   statement;
6. after the commit, one channel-layer message per destination hospital
   carrying all the flush's numerics and waveforms (boards forward the
   waveforms of the cases they opened), and the crew's own sockets hear
   only when the server's NEWS2 of their case changes.

A submission outside its crew's reach fails alone (``NotFound``,
``PermissionDenied``); a database error fails the whole flush, nothing is
acknowledged and the devices send again. ``ingest_queue`` decides when a
flush runs.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.utils import timezone

from consult.bulk import update_rows
from consult.emergency import events, ingest, vitals
from consult.emergency.models import (
    CaseEvent,
    EmergencyCase,
    News2Score,
    StreamKind,
    VitalsBatch,
    VitalsStream,
)
from consult.emergency.selectors import parse_case_id, require_crew
from consult.exceptions import ConsultError, NotFound
from consult.records.access import patient_access
from consult.records.context import AccessContext
from consult.records.models import AuditEvent

StreamKey = tuple[str, uuid.UUID]
_CASE_FIELDS = ("id", "patient_id", "destination_id", "crew_id", "service_id")
_SCORE_FIELDS = (
    "latest_vitals",
    "news2_total",
    "news2_band",
    "news2_trend",
    "first_vitals_at",
    "updated_at",
)
_STREAM_FIELDS = ["acked_through", "max_seq", "batches", "last_batch_at"]


@dataclass(frozen=True, slots=True)
class Submission:
    """One socket's (or one request's) batches for one case."""

    actor: Any
    case_id: object
    batches: list[ingest.BatchIn]
    ctx: AccessContext


Outcome = ingest.IngestResult | ConsultError


@dataclass(slots=True)
class _Stream:
    """A locked stream and what this flush has added to it so far."""

    row: VitalsStream
    fresh: dict[int, VitalsBatch] = field(default_factory=dict)
    touched: bool = False


@transaction.atomic
def ingest_many(submissions: list[Submission]) -> list[Outcome]:
    """Store every submission's batches; one outcome per submission, in order.

    Each outcome is what ``ingest.vitals_ingest`` returns for that
    submission alone, or the ``ConsultError`` it would raise.
    """
    outcomes: list[Outcome | None] = [None] * len(submissions)
    cases = _cases(submissions, outcomes)
    streams = _lock_streams(submissions, cases, outcomes)
    # Per stored submission, its new rows (inserted together, fanned out in order).
    new_rows: dict[int, list[VitalsBatch]] = {}
    for index, sub in enumerate(submissions):
        if outcomes[index] is None:
            outcomes[index], new_rows[index] = _store(sub, cases[index], streams)
    VitalsBatch.objects.bulk_create(
        [row for rows in new_rows.values() for row in rows], ignore_conflicts=True
    )
    touched = [s.row for s in streams.values() if s.touched]
    if touched:
        update_rows(touched, _STREAM_FIELDS)
    numerics: dict[Any, list[VitalsBatch]] = defaultdict(list)
    for index, rows in new_rows.items():
        for row in rows:
            if row.kind == StreamKind.NUMERICS:
                numerics[cases[index].pk].append(row)
    _fan_out(cases, new_rows, _score_cases(numerics))
    # Every submission got a result or an error above.
    return cast(list[Outcome], outcomes)


def _cases(
    submissions: list[Submission], outcomes: list[Outcome | None]
) -> dict[int, EmergencyCase]:
    """Each submission's case, if it belongs to the submitter's crew (one query)."""
    wanted: dict[int, uuid.UUID] = {}
    for index, sub in enumerate(submissions):
        try:
            require_crew(sub.actor)
            wanted[index] = parse_case_id(sub.case_id)
        except ConsultError as exc:
            outcomes[index] = exc
    found = {
        c.pk: c
        for c in EmergencyCase.objects.filter(pk__in=set(wanted.values())).only(
            *_CASE_FIELDS
        )
    }
    cases: dict[int, EmergencyCase] = {}
    for index, case_pk in wanted.items():
        case, actor = found.get(case_pk), submissions[index].actor
        if (
            case is None
            or case.crew_id != actor.crew_id
            or case.service_id != actor.organisation_id
        ):
            outcomes[index] = NotFound()
        else:
            cases[index] = case
    return cases


def _lock_streams(
    submissions: list[Submission],
    cases: dict[int, EmergencyCase],
    outcomes: list[Outcome | None],
) -> dict[StreamKey, _Stream]:
    """Lock every stream the flush writes (pk order); create the new ones."""
    keys = {(b.device_id, b.stream_id) for i in cases for b in submissions[i].batches}
    locked = VitalsStream.objects.select_for_update().filter(
        stream_id__in={stream_id for _device, stream_id in keys}
    )
    streams = {
        (row.device_id, row.stream_id): _Stream(row)
        for row in locked.order_by("pk")
        if (row.device_id, row.stream_id) in keys
    }
    for index, case in cases.items():
        sub = submissions[index]
        firsts: dict[StreamKey, ingest.BatchIn] = {}
        for batch in sub.batches:
            firsts.setdefault((batch.device_id, batch.stream_id), batch)
        missing = [b for key, b in firsts.items() if key not in streams]
        if not missing:
            continue
        try:
            with transaction.atomic():  # the submission's new streams, or none
                for first in missing:
                    row = _create_stream(case, first, sub.actor, sub.ctx)
                    streams[(first.device_id, first.stream_id)] = _Stream(row)
        except ConsultError as exc:
            outcomes[index] = exc
            for first in missing:
                streams.pop((first.device_id, first.stream_id), None)
    return streams


def _create_stream(
    case: EmergencyCase, first: ingest.BatchIn, actor: Any, ctx: AccessContext
) -> VitalsStream:
    """A new stream row, audited; or the one another request created first."""
    key = {"device_id": first.device_id, "stream_id": first.stream_id}
    try:
        with transaction.atomic():
            row = VitalsStream.objects.create(**key, case=case, kind=first.kind)
    except IntegrityError:
        return VitalsStream.objects.select_for_update().get(**key)
    with patient_access(
        actor=actor,
        patient_id=case.patient_id,
        action=AuditEvent.Action.CREATE,
        ctx=ctx,
    ) as grant:
        grant.object_type, grant.object_id = "vitals_stream", str(first.stream_id)
        grant.extra.update({"device": first.device_id, "kind": first.kind})
    return row


def _store(
    sub: Submission,
    case: EmergencyCase,
    streams: dict[StreamKey, _Stream],
) -> tuple[ingest.IngestResult, list[VitalsBatch]]:
    """Check one submission's batches against its streams: its result and new rows."""
    groups: dict[StreamKey, list[ingest.BatchIn]] = defaultdict(list)
    for batch in sub.batches:
        groups[(batch.device_id, batch.stream_id)].append(batch)
    acks: list[ingest.StreamAck] = []
    errors: list[dict[str, Any]] = []
    new_rows: list[VitalsBatch] = []
    for (device_id, stream_id), group in groups.items():
        state = streams[(device_id, stream_id)]
        stream = state.row
        code = (
            "stream_conflict"
            if stream.case_id != case.pk
            else "stream_kind_mismatch"
            if stream.kind != group[0].kind
            else None
        )
        if code:
            errors += [
                {"stream": str(stream_id), "seq": b.seq, "code": code} for b in group
            ]
            continue
        stored = _stored_hashes(state, group)
        had_gaps = stream.max_seq > stream.acked_through
        fresh: dict[int, VitalsBatch] = {}
        duplicates = 0
        for batch in group:
            code = None
            if batch.kind != stream.kind:
                code = "stream_kind_mismatch"
            elif ingest.payload_sha256(batch.payload) != batch.sha256:
                code = "hash_mismatch"
            elif batch.seq in stored or batch.seq in fresh:
                known = stored.get(batch.seq) or fresh[batch.seq].sha256
                if known == batch.sha256:
                    duplicates += 1
                else:
                    code = "seq_conflict"
            else:
                fresh[batch.seq] = ingest.batch_row(case, stream, batch)
            if code:
                errors.append(
                    {"stream": str(stream_id), "seq": batch.seq, "code": code}
                )
        rows = list(fresh.values())
        if rows:
            stream.max_seq = max(stream.max_seq, *fresh)
            stream.batches += len(rows)
            stream.last_batch_at = timezone.now()
        state.fresh.update(fresh)
        above = ingest.advance(
            stream, had_gaps=had_gaps, new=set(fresh), pending=set(state.fresh)
        )
        state.touched = True
        acks.append(
            ingest.StreamAck(
                device_id,
                str(stream_id),
                stream.acked_through,
                ingest.missing_seqs(stream, above),
                duplicates,
            )
        )
        new_rows += rows
    return ingest.IngestResult(acks, errors, len(new_rows)), new_rows


def _stored_hashes(state: _Stream, group: list[ingest.BatchIn]) -> dict[int, str]:
    """Hashes of already stored seqs a group resends (stored or earlier this flush)."""
    stream = state.row
    known = {s: r.sha256 for s, r in state.fresh.items()}
    resent = [b.seq for b in group if b.seq <= stream.max_seq and b.seq not in known]
    if resent:
        known.update(
            VitalsBatch.objects.filter(
                vitals_stream=stream, seq__in=resent
            ).values_list("seq", "sha256")
        )
    return known


def _score_cases(numerics: dict[Any, list[VitalsBatch]]) -> dict[Any, EmergencyCase]:
    """Fold new numerics into each case's latest values and NEWS2 (cases locked).

    Returns the updated cases; each carries ``news2_changed``.
    """
    if not numerics:
        return {}
    now = timezone.now()
    cases = list(
        EmergencyCase.objects.select_for_update()
        .filter(pk__in=list(numerics))
        .order_by("pk")
        .only(*_CASE_FIELDS, *_SCORE_FIELDS)
    )
    history: dict[Any, list[tuple[Any, int]]] = defaultdict(list)
    for case_id, at, total in (
        News2Score.objects.filter(case__in=cases, at__gte=now - vitals.TREND_WINDOW)
        .order_by("case_id", "at")
        .values_list("case_id", "at", "total")
    ):
        history[case_id].append((at, total))
    scores: list[News2Score] = []
    firsts: list[CaseEvent] = []
    for case in cases:
        rows = numerics[case.pk]
        before = (case.news2_total, case.news2_band, case.news2_trend)
        latest = case.latest_vitals
        for row in sorted(rows, key=lambda r: r.sample_t0):
            valid, _flags = vitals.check_numerics(row.payload.get("values", {}))
            latest = vitals.merge_latest(latest, valid, row.sample_t0)
        total, band, parts = vitals.score_latest(latest, now)
        past = history[case.pk]
        case.latest_vitals = latest
        case.news2_total, case.news2_band = total, band
        case.news2_trend = vitals.trend_of(past, total)
        # The window (10 min) is longer than the storage interval, so the last
        # stored score, if older than the window, is due for a new one anyway.
        last = past[-1] if past else None
        if total is not None and (
            last is None
            or last[1] != total
            or (now - last[0]).total_seconds() >= ingest.NEWS2_HISTORY_EVERY_S
        ):
            scores.append(
                News2Score(case=case, at=now, total=total, band=band, scores=parts)
            )
        if case.first_vitals_at is None:
            case.first_vitals_at = min(r.sample_t0 for r in rows)
            firsts.append(
                CaseEvent(
                    case=case, kind=CaseEvent.Kind.FIRST_VITALS, at=now, detail={}
                )
            )
        case.updated_at = now
        case.news2_changed = before != (total, band, case.news2_trend)  # type: ignore[attr-defined]
    News2Score.objects.bulk_create(scores)
    CaseEvent.objects.bulk_create(firsts)
    update_rows(cases, _SCORE_FIELDS)
    return {case.pk: case for case in cases}


def _fan_out(
    cases: dict[int, EmergencyCase],
    new_rows: dict[int, list[VitalsBatch]],
    scored: dict[Any, EmergencyCase],
) -> None:
    """One feed message per destination hospital; NEWS2 changes to the crews."""
    feeds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    news2_changed: dict[Any, dict[str, Any]] = {}
    for index, rows in new_rows.items():
        case = cases[index]
        scores_of = scored.get(case.pk, case)
        case_id = str(case.pk)
        for row in sorted(rows, key=lambda r: (str(r.stream_id), r.seq)):
            event = {
                "case": case_id,
                "device": row.device_id,
                "stream": str(row.stream_id),
                "seq": row.seq,
                "kind": row.kind,
                "sample_t0": row.sample_t0.isoformat(),
            }
            if row.kind == StreamKind.NUMERICS:
                event |= {
                    "type": "vitals",
                    "values": row.payload.get("values", {}),
                    "flags": row.flags,
                    "news2": _news2(scores_of),
                }
                if getattr(scores_of, "news2_changed", False):
                    news2_changed[case_id] = event
            else:
                event |= {
                    "type": "waveform",
                    "rate_hz": row.rate_hz,
                    "n_samples": row.n_samples,
                    "payload": row.payload,
                }
            feeds[case.destination_id].append(event)
    for hospital_id, feed in feeds.items():
        events.feed_on_commit(hospital_id, feed)
    for case_id, event in news2_changed.items():
        events.case_vitals_on_commit(case_id, event)


def _news2(case: EmergencyCase) -> dict[str, Any]:
    return {
        "total": case.news2_total,
        "band": case.news2_band,
        "trend": case.news2_trend,
    }

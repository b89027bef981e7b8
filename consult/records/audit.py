"""The append-only, hash-chained audit trail: writing events and verifying the chain.

Each event's ``hash`` is HMAC-SHA256 over the canonical JSON of its fields,
``prev_hash`` included, so changing, inserting or deleting any row breaks the
chain at that row. Writers serialise on one lock held until commit (a
PostgreSQL advisory lock; SQLite runs IMMEDIATE transactions, which already
serialise writers), so concurrent requests never fork the chain.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from consult.records.context import AccessContext
from consult.records.models import AuditEvent

GENESIS_HASH = "0" * 64
# Arbitrary constant naming the audit chain's advisory lock.
_CHAIN_LOCK_ID = 0x61756469_74636831

_HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "explained",
    "explanation",
    "channel",
    "ip",
    "user_agent",
    "extra",
    "prev_hash",
)


def _chain_key() -> bytes:
    return base64.b64decode(settings.AUDIT_CHAIN_KEY)


def _canonical(event: AuditEvent) -> bytes:
    """RFC 8785-compatible JSON for the value types an event holds."""
    values: dict[str, Any] = {}
    for name in _HASHED_FIELDS:
        value = getattr(event, name)
        if name == "at":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        elif isinstance(value, uuid.UUID):
            value = str(value)
        values[name] = value
    return json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(event: AuditEvent, *, key: bytes | None = None) -> str:
    """The HMAC-SHA256 an event must carry, given its fields and prev_hash."""
    return hmac.new(key or _chain_key(), _canonical(event), hashlib.sha256).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])


def audit_event_record(
    *,
    actor: Any,
    action: str,
    ctx: AccessContext,
    object_type: str = "",
    object_id: str = "",
    patient_id: uuid.UUID | None = None,
    outcome: str = AuditEvent.Outcome.ALLOWED,
    explained: bool | None = None,
    explanation: str = "",
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction if any.

    ``extra`` must hold no PHI: ids, counts and codes only.
    """
    with transaction.atomic():
        _lock_chain()
        head = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
        authenticated = bool(actor is not None and actor.is_authenticated)
        event = AuditEvent(
            seq=(head.seq + 1) if head else 1,
            at=timezone.now(),
            actor_id=actor.pk if authenticated else None,
            actor_username=actor.get_username()[:150] if authenticated else "",
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            patient_id=patient_id,
            outcome=outcome,
            explained=explained,
            explanation=explanation,
            channel=ctx.channel,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            extra=extra or {},
            prev_hash=head.hash if head else GENESIS_HASH,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
        return event


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place where the stored chain disagrees with itself."""

    kind: str  # "altered", "inserted" or "deleted"
    event_id: int
    seq: int
    detail: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of ``audit_chain_verify``."""

    checked: int
    head_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        """True when every event verifies and links to its predecessor."""
        return self.problem is None


def _events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq", "id").iterator(chunk_size=2000)


def audit_chain_verify() -> ChainReport:
    """Walk the chain in order and name the first altered, inserted or deleted event.

    An event whose own hash fails is *inserted* if the chain continues past
    it (its successor links to its predecessor), otherwise *altered*. A
    verifying event that does not link to its predecessor means events were
    *deleted* before it.
    """
    key = _chain_key()
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    events = _events()
    pending: AuditEvent | None = next(events, None)
    while pending is not None:
        event, pending = pending, next(events, None)
        content_ok = hmac.compare_digest(event_hash(event, key=key), event.hash)
        linked = event.prev_hash == expected_prev and event.seq == expected_seq
        if not content_ok:
            skipped = pending is not None and pending.prev_hash == expected_prev
            kind = "inserted" if skipped else "altered"
            detail = (
                "event does not belong to the chain (its successor links past it)"
                if skipped
                else "event content does not match its hash"
            )
            return ChainReport(
                checked, expected_prev, ChainProblem(kind, event.pk, event.seq, detail)
            )
        if not linked:
            detail = (
                f"expected seq {expected_seq} before it; "
                f"{max(event.seq - expected_seq, 1)} event(s) missing"
            )
            return ChainReport(
                checked,
                expected_prev,
                ChainProblem("deleted", event.pk, event.seq, detail),
            )
        expected_prev, expected_seq, checked = event.hash, event.seq + 1, checked + 1
    return ChainReport(checked, expected_prev, None)

"""Unusual-access monitoring: volume, unexplained access and probing.

Rules (thresholds in ``settings.ACCESS_MONITOR``), evaluated inside the audit
chain lock so concurrent requests cannot slip past a threshold together:

- volume: more than N distinct patients touched in the window;
- unexplained: more than M distinct patients reached without a care
  relationship (break-glass) in the window;
- probing: more than K denied patient accesses in the window.

A rule that fires raises an ``AccessAlert`` that blocks the user's patient
access until an administrator clears it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consult.records.audit import audit_event_record
from consult.records.context import AccessContext
from consult.records.models import AccessAlert, AuditEvent

logger = logging.getLogger(__name__)

# Actions that reveal or change one patient's record.
PATIENT_TOUCH_ACTIONS = (
    AuditEvent.Action.READ,
    AuditEvent.Action.UPDATE,
    AuditEvent.Action.EXPORT,
    AuditEvent.Action.DELETE,
    AuditEvent.Action.SUBSCRIBE,
)


def is_blocked(user: Any) -> bool:
    """Whether an uncleared blocking alert stands against ``user``."""
    return AccessAlert.objects.filter(
        user=user, blocking=True, cleared_at__isnull=True
    ).exists()


def _recent(user: Any) -> Any:
    """The user's events in the window, counted anew after an administrator's clear."""
    since = timezone.now() - settings.ACCESS_MONITOR["WINDOW"]
    cleared = (
        AccessAlert.objects.filter(user=user, cleared_at__isnull=False)
        .order_by("-cleared_at")
        .values_list("cleared_at", flat=True)
        .first()
    )
    if cleared is not None and cleared > since:
        since = cleared
    # order_by() clears Meta.ordering, which would otherwise join DISTINCT.
    return AuditEvent.objects.filter(actor_id=user.pk, at__gte=since).order_by()


def rule_fired_by_touch(user: Any, *, explained: bool) -> tuple[str, str] | None:
    """Which rule, if any, the user's latest (already appended) touch breaks.

    Call under the chain lock, after appending the event, so the count is exact.
    """
    limits = settings.ACCESS_MONITOR
    touched = _recent(user).filter(
        outcome=AuditEvent.Outcome.ALLOWED, action__in=PATIENT_TOUCH_ACTIONS
    )
    distinct = touched.values("patient_id").distinct().count()
    if distinct > limits["MAX_DISTINCT_PATIENTS"]:
        return AccessAlert.Rule.VOLUME, f"{distinct} distinct patients in window"
    if not explained:
        unexplained = (
            touched.filter(explained=False).values("patient_id").distinct().count()
        )
        if unexplained > limits["MAX_UNEXPLAINED_PATIENTS"]:
            return (
                AccessAlert.Rule.UNEXPLAINED,
                f"{unexplained} patients without care relationship in window",
            )
    return None


def rule_fired_by_listing(user: Any) -> tuple[str, str] | None:
    """Whether the user has paged through more distinct patients than a census explains.

    Lists are not counted by the volume rule (a department census is normal
    work), but paging through far more patients than that is scraping.
    """
    revealed: set[str] = set()
    for extra in (
        _recent(user)
        .filter(action=AuditEvent.Action.LIST, outcome=AuditEvent.Outcome.ALLOWED)
        .values_list("extra", flat=True)
    ):
        revealed.update((extra or {}).get("ids", ()))
    if len(revealed) > settings.ACCESS_MONITOR["MAX_LISTED_PATIENTS"]:
        return (
            AccessAlert.Rule.LISTING,
            f"{len(revealed)} distinct patients listed in window",
        )
    return None


def rule_fired_by_denials(user: Any) -> tuple[str, str] | None:
    """Whether recent denied attempts (the latest included) amount to probing."""
    denied = _recent(user).filter(outcome=AuditEvent.Outcome.DENIED).count()
    if denied > settings.ACCESS_MONITOR["MAX_DENIED_ATTEMPTS"]:
        return AccessAlert.Rule.PROBING, f"{denied} denied attempts in window"
    return None


@transaction.atomic
def access_alert_raise(
    *, user: Any, rule: str, detail: str, ctx: AccessContext
) -> AccessAlert:
    """Raise a blocking alert for ``user`` (once while one is open); audited."""
    alert = AccessAlert.objects.filter(
        user=user, blocking=True, cleared_at__isnull=True
    ).first()
    if alert is not None:
        return alert
    alert = AccessAlert(user=user, rule=rule, detail=detail[:200])
    alert.full_clean()
    alert.save()
    audit_event_record(
        actor=user,
        action=AuditEvent.Action.BLOCK,
        ctx=ctx,
        object_type="access_alert",
        object_id=str(alert.pk),
        extra={"rule": rule},
    )
    logger.warning("access blocked user_id=%s rule=%s", user.pk, rule)
    return alert


@transaction.atomic
def access_alert_clear(
    *, alert: AccessAlert, by: Any, ctx: AccessContext
) -> AccessAlert:
    """An administrator clears an alert, lifting the block; audited."""
    if alert.cleared_at is None:
        alert.cleared_at = timezone.now()
        alert.cleared_by = by
        alert.save(update_fields=["cleared_at", "cleared_by"])
        audit_event_record(
            actor=by,
            action=AuditEvent.Action.UNBLOCK,
            ctx=ctx,
            object_type="access_alert",
            object_id=str(alert.pk),
            extra={"rule": alert.rule, "user_id": alert.user_id},
        )
    return alert

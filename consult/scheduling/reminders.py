"""Reminders before appointments: an in-app notification and an email.

Neither names the patient or the booking reason: they say what, when and
where to go (the room or the diary). Sending is idempotent: an appointment
is reminded once, marked by ``reminded_at`` in the same transaction as its
notifications; emails leave only after that commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from consult.accounts.models import Notification
from consult.scheduling.ical import room_url
from consult.scheduling.models import Appointment

logger = logging.getLogger(__name__)

DEFAULT_LEAD = timedelta(hours=24)


def reminder_lead() -> timedelta:
    """``settings.APPOINTMENT_REMINDER_LEAD`` (a timedelta), read at call time."""
    return getattr(settings, "APPOINTMENT_REMINDER_LEAD", DEFAULT_LEAD)


def _site_url() -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/")


def appointment_link(appointment: Appointment) -> str:
    """Where a reminder points: the room, else the diary (absolute if SITE_URL)."""
    path = room_url(appointment)
    if path is None:
        try:
            path = reverse("scheduling:calendar")
        except NoReverseMatch:
            path = "/schedule/"
    return _site_url() + path


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


def _remind(appointment_id: object, now: datetime, lead: timedelta) -> int | None:
    """Remind one appointment's clinicians if still due; returns emails queued.

    ``None`` when another runner reminded it meanwhile or it is no longer due.
    """
    with transaction.atomic():
        appointment = (
            Appointment.objects.select_for_update()
            .filter(
                pk=appointment_id,
                status__in=Appointment.ACTIVE,
                reminded_at__isnull=True,
                starts_at__gt=now,
                starts_at__lte=now + lead,
            )
            .select_related("consultation_type")
            .first()
        )
        if appointment is None:
            return None
        link = appointment_link(appointment)
        kind = appointment.consultation_type.name
        practitioners = [
            p.practitioner
            for p in appointment.participants.filter(active=True).select_related(
                "practitioner"
            )
        ]
        Notification.objects.bulk_create(
            [
                Notification(
                    user=user,
                    kind=Notification.Kind.REMINDER,
                    title=f"{kind} at {_local(appointment.starts_at, user.time_zone)}",
                    body="You have a consultation coming up.",
                    url=link,
                    dedupe_key=f"reminder:{appointment.pk}",
                )
                for user in practitioners
            ],
            ignore_conflicts=True,
        )
        messages = [
            (
                f"Reminder: {kind} at {_local(appointment.starts_at, user.time_zone)}",
                f"You have a {kind} starting "
                f"{_local(appointment.starts_at, user.time_zone)}.\n\n"
                f"Open it here: {link}\n",
                None,
                [user.email],
            )
            for user in practitioners
            if user.email
        ]
        appointment.reminded_at = now
        appointment.save(update_fields=["reminded_at"])
        if messages:
            transaction.on_commit(
                lambda: send_mass_mail(messages, fail_silently=False), robust=True
            )
        return len(messages)


def appointment_reminders_send(now: datetime | None = None) -> int:
    """Remind every active appointment starting within the lead; returns how many.

    Safe to run concurrently and repeatedly: each appointment is locked,
    re-checked and marked in its own transaction.
    """
    now = now or timezone.now()
    lead = reminder_lead()
    due = list(
        Appointment.objects.filter(
            status__in=Appointment.ACTIVE,
            reminded_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=now + lead,
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )
    reminded = 0
    for appointment_id in due:
        queued = _remind(appointment_id, now, lead)
        if queued is None:
            continue
        reminded += 1
        logger.info("reminded appointment %s (%s email(s))", appointment_id, queued)
    return reminded
